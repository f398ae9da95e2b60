import type { OperationKind, OperationRecord, PaymentRecord } from "../records.js";
import type { Kernel } from "./kernel.js";
import type { RequestMeta } from "./types.js";

const operationQuery = (op: OperationRecord, p: PaymentRecord) => ({
  kind: op.kind,
  idempotencyKey: op.idempotencyKey,
  paymentReference: p.channelPaymentId,
  ...(op.channelId ? { reference: op.channelId } : {}),
});

/** Asks the PSP about a capture, void or refund still processing and settles it. */
export function refreshOperation(k: Kernel) {
  return async (meta: RequestMeta, kind: OperationKind, id: string): Promise<OperationRecord | null> => {
    const first = await k.repository.findOperation(kind, meta.shopId, id);
    if (!first || first.state !== "processing") return first;
    const shop = await k.shopOf(meta);
    return k.locked(meta.shopId, first.paymentId, async () => {
      const op = await k.repository.findOperation(kind, meta.shopId, id);
      const p = op && (await k.repository.findPayment(meta.shopId, op.paymentId));
      if (!op || !p || op.state !== "processing") return op;
      const connector = k.connectorOf(p.psp);
      const outcome = await k.callPsp(connector.name, `${kind} status`, meta, () =>
        connector.operationStatus(k.pspContext(shop, p.test), operationQuery(op, p)),
      );
      if (outcome.kind === "unknown" || outcome.kind === "pending") return op;
      return k.recorder.settleOperation(op, outcome, meta);
    });
  };
}
