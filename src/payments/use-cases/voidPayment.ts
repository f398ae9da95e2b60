import type { Kernel } from "./kernel.js";
import { runOperation } from "./runOperation.js";
import type { OperationAnswer, OperationRequest, RequestMeta } from "./types.js";

/** Void (of an authorized, uncaptured payment): the shared claim, hold, PSP call and settlement (runOperation.ts). */
export function voidPayment(k: Kernel) {
  return (meta: RequestMeta, req: OperationRequest): Promise<OperationAnswer> => runOperation(k, meta, "void", req);
}
