import { CardDataError, type CardDetails } from "../../crypto/cardData.js";
import { CardDecryptionError } from "../../crypto/genstoreV1.js";
import { failedPrecondition, invalidArgument } from "../errors.js";
import { parseAmount } from "../money.js";
import { noObserver } from "../observer.js";
import { checkedRedirect } from "../redirects.js";
import { refuseLiveOnSandbox, type Kernel } from "./kernel.js";
import { orderForPsp } from "./orderForPsp.js";
import { newPayment, paymentError, requestHash, startPayment } from "./startPayment.js";
import type { CardPaymentAnswer, CardPaymentRequest, RequestMeta } from "./types.js";

/** Credit card payment: decrypt in memory, claim the id, charge through the shop's PSP. */
export function createCardPayment(k: Kernel) {
  const observer = k.deps.observer ?? noObserver;
  return async function createCardPayment(meta: RequestMeta, req: CardPaymentRequest): Promise<CardPaymentAnswer> {
    const shop = await k.shopOf(meta);
    const connector = k.connectorOf(shop.psp);
    if (!connector.capabilities.card) throw failedPrecondition(`the shop's PSP ${connector.name} does not take card payments`);
    const amount = parseAmount(req.amount, req.currency);
    const returnUrl = req.returnUrl ? checkedRedirect(req.returnUrl, "paymentMethod.data.returnUrl", shop.redirectHosts, k.production) : undefined;
    refuseLiveOnSandbox(k, req.test, connector);
    let card: CardDetails;
    let fingerprint: string;
    try {
      ({ card, fingerprint } = k.deps.cards.decrypt(req.packet));
    } catch (err) {
      if (err instanceof CardDataError) throw invalidArgument(err.message);
      if (!(err instanceof CardDecryptionError)) throw err;
      observer.decryptFailed();
      throw invalidArgument(err.message);
    }
    const record = newPayment(k, meta, shop, {
      _id: req.paymentId,
      method: "card",
      amount,
      test: req.test,
      manualCapture: req.manualCapture,
      requestHash: requestHash({
        method: "card",
        amount: amount.minor,
        currency: amount.currency,
        test: req.test,
        manualCapture: req.manualCapture,
        card: fingerprint,
      }),
      card: k.deps.cards.summarize(card, fingerprint),
      ...(returnUrl ? { returnUrl } : {}),
    });
    const payment = await startPayment(k, meta, record, (p) =>
      connector.payWithCard(k.pspContext(shop, p.test), {
        idempotencyKey: p.idempotencyKey,
        amount: { minor: p.amount.minor, currency: p.amount.currency },
        capture: p.captureAtOnce,
        card,
        returnUrl: k.deps.returnLink(meta.shopId, p._id),
        description: `Genstore payment ${p._id}`,
        ...(req.order ? { order: orderForPsp(req.order, amount.currency, shop.sendReceiptEmail ?? false) } : {}),
      }),
    );
    return { threeDsUrl: payment.state === "requires_action" ? (payment.actionUrl ?? "") : "", error: paymentError(payment) };
  };
}
