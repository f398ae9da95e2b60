import { createThrottle } from "../../runtime/throttle.js";
import { failedPrecondition } from "../errors.js";
import type { PaymentRecord } from "../records.js";
import { checkedRedirect } from "../redirects.js";
import { abandonPayment } from "./abandonPayment.js";
import { paymentLockKey, type Kernel } from "./kernel.js";
import { refreshPayment } from "./refreshPayment.js";
import type { RequestMeta } from "./types.js";

/**
 * The buyer is back from a PSP page (3-D Secure, hosted checkout). A hit writes nothing itself
 * and asks the PSP at most once per interval whatever the hit rate: only the PSP's answer
 * changes the payment. A PSP whose page stays open after the buyer cancels (Stripe Checkout)
 * is told so here.
 */
export function returnFromPsp(k: Kernel) {
  const refresh = refreshPayment(k);
  // Buyers (and anyone holding a return link) may hit it at any rate; the PSP hears of it rarely.
  const throttle = createThrottle<PaymentRecord | null>({ intervalMs: k.deps.returnRefreshMs ?? 5000, maxKeys: 10_000 });
  return async (meta: RequestMeta, paymentId: string, buyerCancelled = false): Promise<{ redirectTo: string }> => {
    const shop = await k.shopOf(meta);
    const before = await k.requirePayment(meta.shopId, paymentId);
    const ask = () => (buyerCancelled ? abandonPayment(k, meta, paymentId, () => "cancelled by the buyer on the payment page") : refresh(meta, paymentId));
    const after =
      (await throttle.run(`${paymentLockKey(meta.shopId, paymentId)}\u0000${buyerCancelled}`, ask, () => k.repository.findPayment(meta.shopId, paymentId))) ??
      before;
    const cancelled = (after.state === "declined" || after.state === "failed") && after.cancelUrl && /cancel/i.test(after.error ?? "");
    const target = cancelled ? after.cancelUrl : after.returnUrl;
    if (!target) throw failedPrecondition(`payment ${paymentId} has no return URL`);
    // The shop's allowed hosts may have changed since the payment was made.
    return { redirectTo: checkedRedirect(target, "the payment's return URL", shop.redirectHosts, k.production) };
  };
}
