import { pspIdempotencyKey } from "../idempotencyKeys.js";
import type { PaymentRecord } from "../records.js";
import type { Kernel } from "./kernel.js";
import type { RequestMeta } from "./types.js";

/**
 * A payment still waiting for the buyer that the buyer left (cancelled, or gone too long).
 * Money already taken is reported as taken and a decline as a decline; otherwise the payment
 * is cancelled at the PSP and failed only once the PSP confirms it. Without a definitive word
 * from the PSP it stays open, and reconciliation asks again later.
 */
export function abandonPayment(k: Kernel, meta: RequestMeta, paymentId: string, reason: (p: PaymentRecord) => string): Promise<PaymentRecord | null> {
  return k.withPspStatus(meta, paymentId, async (p, outcome, connector, ctx) => {
    if (outcome.kind === "approved" || outcome.kind === "declined" || outcome.kind === "authorized" || outcome.kind === "absent")
      return k.recorder.applyPaymentOutcome(p, outcome, meta, `psp status: ${outcome.kind}`);
    if (outcome.kind === "unknown") {
      k.deps.log({
        level: "warn",
        msg: "the PSP could not say whether an abandoned payment was charged; it stays open",
        paymentId,
        shopId: meta.shopId,
        reason: outcome.reason,
      });
      return p;
    }
    const reference = outcome.reference || p.channelPaymentId;
    const cancelled = reference
      ? await k.callPsp({
          connector: connector.name,
          what: "void",
          meta,
          send: () => connector.void(ctx, { idempotencyKey: pspIdempotencyKey("void", meta.shopId, `expiry:${paymentId}`), reference }),
        })
      : undefined;
    if (cancelled?.kind !== "succeeded") {
      k.deps.log({
        level: "warn",
        msg: "could not cancel an abandoned payment at the PSP; it stays open and is tried again",
        paymentId,
        shopId: meta.shopId,
        outcome: cancelled?.kind ?? "no PSP reference",
      });
      return p;
    }
    return k.recorder.failPayment(p, reason(p), meta);
  });
}

/** 3-D Secure or the hosted page not completed within PAYMENT_ACTION_EXPIRY_MS. */
export function expirePayment(k: Kernel) {
  return (meta: RequestMeta, paymentId: string) =>
    abandonPayment(k, meta, paymentId, (p) => `the buyer did not complete ${p.method === "card" ? "3-D Secure" : "the hosted payment page"} in time`);
}
