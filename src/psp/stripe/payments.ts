import type Stripe from "stripe";
import type { CardPaymentInput, OffsitePaymentInput, PaymentOutcome, PaymentStatusQuery, PspContext } from "../connector.js";
import { toStripeAmount } from "./amounts.js";
import { metadataOf } from "./client.js";
import { billingDetails, checkoutLineItems, shippingOf } from "./order.js";
import { intentOutcome, keyField, sessionOutcome } from "./outcomes.js";

/** A card payment: a PaymentMethod from the decrypted card, then a PaymentIntent confirmed with it. */
export async function payWithCard(stripe: Stripe, ctx: PspContext, input: CardPaymentInput): Promise<PaymentOutcome> {
  const money = toStripeAmount(input.amount);
  const { card } = input;
  const billing = billingDetails(card, input.order);
  const shipping = shippingOf(input.order);
  // Raw card numbers need Stripe's "raw card data" permission on the account (README).
  const pm = await stripe.paymentMethods.create(
    {
      type: "card",
      card: { number: card.number, exp_month: card.expiryMonth, exp_year: card.expiryYear, cvc: card.cvv },
      ...(billing ? { billing_details: billing } : {}),
    },
    { idempotencyKey: `${input.idempotencyKey}-pm` },
  );
  const pi = await stripe.paymentIntents.create(
    {
      ...money,
      payment_method: pm.id,
      allowed_payment_method_types: ["card"],
      confirm: true,
      capture_method: input.capture ? "automatic" : "manual",
      return_url: input.returnUrl,
      description: input.description,
      metadata: metadataOf(ctx, input.idempotencyKey),
      ...(shipping ? { shipping } : {}),
      ...(input.order?.receiptEmail ? { receipt_email: input.order.receiptEmail } : {}),
    },
    { idempotencyKey: input.idempotencyKey },
  );
  return intentOutcome(pi);
}

/** An offsite payment: a Checkout Session whose success and cancel URLs both lead to our return link. */
export async function payOffsite(stripe: Stripe, ctx: PspContext, input: OffsitePaymentInput): Promise<PaymentOutcome> {
  toStripeAmount(input.amount); // refuses an amount Stripe cannot take before anything is sent
  const shipping = shippingOf(input.order);
  const session = await stripe.checkout.sessions.create(
    {
      mode: "payment",
      line_items: checkoutLineItems(input.amount, input.description, input.order),
      ...(input.order?.email ? { customer_email: input.order.email } : {}),
      payment_intent_data: {
        capture_method: input.capture ? "automatic" : "manual",
        description: input.description,
        metadata: metadataOf(ctx, input.idempotencyKey),
        ...(shipping ? { shipping } : {}),
        ...(input.order?.receiptEmail ? { receipt_email: input.order.receiptEmail } : {}),
      },
      metadata: metadataOf(ctx, input.idempotencyKey),
      // Both lead to our return endpoint: it asks Stripe how it ended, or expires the session.
      success_url: input.returnUrl,
      cancel_url: input.cancelUrl,
    },
    { idempotencyKey: input.idempotencyKey },
  );
  return sessionOutcome(session);
}

/** A payment's status by reference, or by our key in the metadata when its first answer was lost. */
export async function paymentStatus(stripe: Stripe, query: PaymentStatusQuery, now: Date, searchLagMs: number): Promise<PaymentOutcome> {
  if (query.reference?.startsWith("cs_")) return sessionOutcome(await stripe.checkout.sessions.retrieve(query.reference, { expand: ["payment_intent"] }));
  if (query.reference) return intentOutcome(await stripe.paymentIntents.retrieve(query.reference));
  // Stripe looks nothing up by idempotency key; our key is in the PaymentIntent's metadata.
  const found = await stripe.paymentIntents.search({ query: `metadata['${keyField}']:'${query.idempotencyKey}'`, limit: 1 });
  const pi = found.data[0];
  if (pi) return intentOutcome(pi);
  if (now.getTime() - query.createdAt.getTime() > searchLagMs)
    return { kind: "absent", reason: "Stripe has no payment for this attempt: the request never reached Stripe" };
  return { kind: "unknown", reason: "Stripe's search does not show this payment yet" };
}
