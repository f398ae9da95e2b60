import type { Kernel } from "./kernel.js";
import { runOperation } from "./runOperation.js";
import type { OperationAnswer, OperationRequest, RequestMeta } from "./types.js";

/** Capture (of an authorized payment, fully or partly): the shared claim, hold, PSP call and settlement (runOperation.ts). */
export function capturePayment(k: Kernel) {
  return (meta: RequestMeta, req: OperationRequest): Promise<OperationAnswer> => runOperation(k, meta, "capture", req);
}
