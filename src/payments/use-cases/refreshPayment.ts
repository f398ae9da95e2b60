import type { PaymentOutcome } from "../../psp/connector.js";
import type { PaymentRecord } from "../records.js";
import type { Kernel } from "./kernel.js";
import type { RequestMeta } from "./types.js";

const HOUR = 3_600_000;

/** "10 s", "5 min", "2 h": a window as people read it. */
const spoken = (ms: number) =>
  ms >= 2 * HOUR ? `${Math.round(ms / HOUR)} h` : ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;

/**
 * What a status answer makes of a payment. A query that cannot answer leaves it as it is. A PSP
 * with no trace of a payment that was claimed but never sent (a crash before the call) leaves it
 * waiting for Genstore's retry, which carries the card again, until the retry window has passed.
 */
export async function applyStatus(k: Kernel, meta: RequestMeta, p: PaymentRecord, outcome: PaymentOutcome): Promise<PaymentRecord> {
  if (outcome.kind === "unknown") return p;
  // A call that outlived its budget may still land at the PSP (a booking written late, a request
  // still queued): "no such payment" means nothing until another budget has passed since.
  if (outcome.kind === "absent" && p.state === "unknown" && k.now().getTime() - new Date(p.updatedAt).getTime() < k.deps.pspTimeoutMs) return p;
  if (outcome.kind === "absent" && p.state === "received") {
    const windowMs = k.deps.paymentRetryWindowMs ?? HOUR;
    if (k.now().getTime() - new Date(p.createdAt).getTime() < windowMs) return p;
    const reason = `the payment was never sent to the payment provider and Genstore did not retry it within ${spoken(windowMs)}`;
    return k.recorder.applyPaymentOutcome(p, { kind: "absent", reason }, meta, "retry window passed: the PSP has no trace of it");
  }
  return k.recorder.applyPaymentOutcome(p, outcome, meta, `psp status: ${outcome.kind}`);
}

/** Asks the PSP about a payment whose outcome is open and applies its answer. */
export function refreshPayment(k: Kernel) {
  return (meta: RequestMeta, paymentId: string): Promise<PaymentRecord | null> =>
    k.withPspStatus(meta, paymentId, (p, outcome) => applyStatus(k, meta, p, outcome));
}
