import type { PaymentRecord } from "../records.js";
import type { Kernel } from "./kernel.js";
import type { RequestMeta } from "./types.js";

/** Asks the PSP about a payment whose outcome is open and applies its answer. */
export function refreshPayment(k: Kernel) {
  return (meta: RequestMeta, paymentId: string): Promise<PaymentRecord | null> =>
    k.withPspStatus(meta, paymentId, async (p, outcome) =>
      // A status query that cannot answer leaves the payment as it is.
      outcome.kind === "unknown" ? p : k.recorder.applyPaymentOutcome(p, outcome, meta, `psp status: ${outcome.kind}`),
    );
}
