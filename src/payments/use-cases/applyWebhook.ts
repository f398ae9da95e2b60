import type { OperationOutcome, PaymentOutcome, WebhookEvent } from "../../psp/connector.js";
import type { PaymentRecord } from "../records.js";
import type { Kernel } from "./kernel.js";
import type { WebhookResult } from "./types.js";

/** A test-mode event never moves a live payment, nor the reverse. */
const otherMode = (event: WebhookEvent, p: PaymentRecord) => event.mode !== undefined && event.mode !== (p.test ? "test" : "live");

/**
 * A PSP's word on a capture, void or refund: settles one still processing (its answer was
 * lost); a final result is never changed, and a late failure of a success is an operator's job.
 */
async function applyOperationEvent(k: Kernel, connectorName: string, event: WebhookEvent, shopId: string | undefined): Promise<WebhookResult> {
  const found = await k.repository.findOperationByIdempotencyKey(event.idempotencyKey);
  if (!found || (shopId !== undefined && found.shopId !== shopId)) return "unknown payment";
  const outcome = event.outcome as OperationOutcome;
  const meta = { shopId: found.shopId, requestId: `webhook:${event.id}` };
  return k.locked(found.shopId, found.paymentId, async () => {
    const [op, p] = [await k.repository.findOperation(found.kind, found.shopId, found._id), await k.repository.findPayment(found.shopId, found.paymentId)];
    if (!op || !p || p.psp !== connectorName || otherMode(event, p)) return "unknown payment";
    if (outcome.kind === "pending" || outcome.kind === "unknown") return "ignored";
    if (op.state === "processing") {
      await k.recorder.settleOperation(op, outcome, meta);
      return "applied";
    }
    if (op.state === "succeeded" && outcome.kind === "failed") {
      k.deps.log({
        level: "error",
        msg: `the PSP reports a ${op.kind} failed after it succeeded; Genstore was told it succeeded`,
        shopId: op.shopId,
        paymentId: op.paymentId,
        id: op._id,
        reason: outcome.reason,
      });
    }
    return "ignored";
  });
}

/**
 * Applies a verified PSP webhook; a late or repeated event never moves a final state back.
 * `shopId` is set when the webhook came to a shop's own URL: it may only touch that shop.
 */
export function applyWebhook(k: Kernel) {
  return async (connectorName: string, event: WebhookEvent, shopId?: string): Promise<WebhookResult> => {
    if (event.target === "operation") return applyOperationEvent(k, connectorName, event, shopId);
    const found = await k.repository.findPaymentByIdempotencyKey(event.idempotencyKey);
    if (!found || found.psp !== connectorName || (shopId !== undefined && found.shopId !== shopId) || otherMode(event, found)) return "unknown payment";
    const meta = { shopId: found.shopId, requestId: `webhook:${event.id}` };
    await k.locked(found.shopId, found._id, async () => {
      const p = await k.repository.findPayment(found.shopId, found._id);
      if (p) await k.recorder.applyPaymentOutcome(p, event.outcome as PaymentOutcome, meta, `psp webhook: ${event.outcome.kind}`);
    });
    return "applied";
  };
}
