import type { Kernel } from "./kernel.js";
import { runOperation } from "./runOperation.js";
import type { OperationAnswer, OperationRequest, RequestMeta } from "./types.js";

/** Refund (of captured money, several times, never more than was captured): the shared claim, hold, PSP call and settlement (runOperation.ts). */
export function refundPayment(k: Kernel) {
  return (meta: RequestMeta, req: OperationRequest): Promise<OperationAnswer> => runOperation(k, meta, "refund", req);
}
