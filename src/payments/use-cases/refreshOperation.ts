import type { OperationOutcome } from "../../psp/connector.js";
import type { OperationKind, OperationRecord, PaymentRecord } from "../records.js";
import type { Kernel } from "./kernel.js";
import { wasHeld } from "./runOperation.js";
import type { RequestMeta } from "./types.js";

const operationQuery = (op: OperationRecord, p: PaymentRecord) => ({
  kind: op.kind,
  idempotencyKey: op.idempotencyKey,
  paymentReference: p.channelPaymentId,
  ...(op.channelId ? { reference: op.channelId } : {}),
});

/**
 * An operation claimed but never held was never sent (the service failed between the claim and
 * the hold). It waits for Genstore's retry, which starts it over; past the retry window the
 * claim is dropped, so the id reads as never received, as it was for the PSP.
 */
async function dropUnsent(k: Kernel, op: OperationRecord): Promise<OperationRecord | null> {
  const windowMs = k.deps.paymentRetryWindowMs ?? 3_600_000;
  if (k.now().getTime() - new Date(op.createdAt).getTime() < windowMs) return op;
  await k.repository.deleteOperation(op.kind, op.shopId, op._id);
  k.deps.log({ level: "warn", msg: `dropped a ${op.kind} that was claimed but never sent`, shopId: op.shopId, paymentId: op.paymentId, id: op._id });
  return null;
}

/**
 * A capture, void or refund still processing is one whose call outlived its budget: it may yet
 * land at the PSP (a booking written late, a request still queued). Until another budget has
 * passed since the call's own ran out, "no such operation" or "not done" means nothing yet.
 */
function tooSoonToBelieve(k: Kernel, op: OperationRecord, outcome: OperationOutcome): boolean {
  if (outcome.kind !== "failed") return false;
  return k.now().getTime() - new Date(op.createdAt).getTime() < 2 * k.deps.pspTimeoutMs;
}

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
      if (!wasHeld(p, op)) return dropUnsent(k, op);
      const connector = k.connectorOf(p.psp);
      const outcome = await k.callPsp({
        connector: connector.name,
        what: `${kind} status`,
        meta,
        send: () => connector.operationStatus(k.pspContext(shop, p.test), operationQuery(op, p)),
      });
      if (outcome.kind === "unknown" || outcome.kind === "pending" || tooSoonToBelieve(k, op, outcome)) return op;
      return k.recorder.settleOperation(op, outcome, meta, p);
    });
  };
}
