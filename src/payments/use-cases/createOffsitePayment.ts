import { failedPrecondition } from "../errors.js";
import { parseAmount } from "../money.js";
import { checkedRedirect } from "../redirects.js";
import { refuseLiveOnSandbox, type Kernel } from "./kernel.js";
import { orderForPsp } from "./orderForPsp.js";
import { newPayment, paymentError, requestHash, startPayment } from "./startPayment.js";
import type { OffsitePaymentAnswer, OffsitePaymentRequest, RequestMeta } from "./types.js";

/** Offsite payment: the PSP's hosted page, which sends the buyer back through our return link. */
export function createOffsitePayment(k: Kernel) {
  return async function createOffsitePayment(meta: RequestMeta, req: OffsitePaymentRequest): Promise<OffsitePaymentAnswer> {
    const shop = await k.shopOf(meta);
    const connector = k.connectorOf(shop.psp);
    if (!connector.capabilities.offsite) throw failedPrecondition(`the shop's PSP ${connector.name} does not take offsite payments`);
    const amount = parseAmount(req.amount, req.currency);
    const returnUrl = checkedRedirect(req.returnUrl, "paymentMethod.data.returnUrl", shop.redirectHosts, k.production);
    const cancelUrl = req.cancelUrl ? checkedRedirect(req.cancelUrl, "paymentMethod.data.cancelUrl", shop.redirectHosts, k.production) : undefined;
    refuseLiveOnSandbox(k, req.test, connector);
    const record = newPayment(k, meta, shop, {
      _id: req.paymentId,
      method: "offsite",
      amount,
      test: req.test,
      manualCapture: req.manualCapture,
      requestHash: requestHash({ method: "offsite", amount: amount.minor, currency: amount.currency, test: req.test, manualCapture: req.manualCapture }),
      returnUrl,
      ...(cancelUrl ? { cancelUrl } : {}),
    });
    const payment = await startPayment(k, meta, record, (p) =>
      connector.payOffsite(k.pspContext(shop, p.test), {
        idempotencyKey: p.idempotencyKey,
        amount: { minor: p.amount.minor, currency: p.amount.currency },
        capture: p.captureAtOnce,
        returnUrl: k.deps.returnLink(meta.shopId, p._id),
        cancelUrl: k.deps.returnLink(meta.shopId, p._id, true),
        description: `Genstore payment ${p._id}`,
        ...(req.order ? { order: orderForPsp(req.order, amount.currency, shop.sendReceiptEmail ?? false) } : {}),
      }),
    );
    // Like the card route: a PSP that has not answered within the budget is no error (PROCESSING).
    return { redirectUrl: payment.state === "requires_action" ? (payment.actionUrl ?? "") : "", error: paymentError(payment) };
  };
}
