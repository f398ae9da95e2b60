import type Stripe from "stripe";
import type { OperationOutcome, OperationStatusQuery, PspAmount, PspContext } from "../connector.js";
import { toStripeAmount } from "./amounts.js";
import { intentId, metadataOf, paidIntentOf } from "./client.js";
import { keyField, refundOutcome } from "./outcomes.js";

type OperationInput = { idempotencyKey: string; reference: string };

export async function capture(stripe: Stripe, input: OperationInput & { amount: PspAmount }): Promise<OperationOutcome> {
  const { amount } = toStripeAmount(input.amount);
  const pi = await stripe.paymentIntents.capture(
    await intentId(stripe, input.reference),
    { amount_to_capture: amount },
    { idempotencyKey: input.idempotencyKey },
  );
  if (pi.status === "succeeded") return { kind: "succeeded", reference: pi.id };
  if (pi.status === "processing") return { kind: "pending", reference: pi.id };
  return { kind: "failed", reference: pi.id, reason: `the payment is ${pi.status} at Stripe after the capture` };
}

/** Cancels a PaymentIntent; a Checkout Session the buyer has not paid is expired instead. */
export async function cancel(stripe: Stripe, input: OperationInput): Promise<OperationOutcome> {
  let piId = input.reference;
  if (input.reference.startsWith("cs_")) {
    const session = await stripe.checkout.sessions.retrieve(input.reference);
    if (session.status === "expired") return { kind: "succeeded", reference: session.id };
    if (session.status === "open") {
      const expired = await stripe.checkout.sessions.expire(session.id, {}, { idempotencyKey: input.idempotencyKey });
      return expired.status === "expired"
        ? { kind: "succeeded", reference: expired.id }
        : { kind: "failed", reason: `the Checkout Session is ${expired.status}` };
    }
    piId = paidIntentOf(session);
  }
  const pi = await stripe.paymentIntents.cancel(piId, {}, { idempotencyKey: input.idempotencyKey });
  return pi.status === "canceled"
    ? { kind: "succeeded", reference: pi.id }
    : { kind: "failed", reference: pi.id, reason: `the payment is ${pi.status} at Stripe, not cancelled` };
}

export async function refund(stripe: Stripe, ctx: PspContext, input: OperationInput & { amount: PspAmount }): Promise<OperationOutcome> {
  const { amount } = toStripeAmount(input.amount);
  const created = await stripe.refunds.create(
    { payment_intent: await intentId(stripe, input.reference), amount, metadata: metadataOf(ctx, input.idempotencyKey) },
    { idempotencyKey: input.idempotencyKey },
  );
  return refundOutcome(created);
}

/** A capture, void or refund's status: refunds by id or by our key; captures and voids from the PaymentIntent. */
export async function operationStatus(stripe: Stripe, query: OperationStatusQuery): Promise<OperationOutcome> {
  if (query.kind === "refund") {
    if (query.reference) return refundOutcome(await stripe.refunds.retrieve(query.reference));
    for await (const r of stripe.refunds.list({ payment_intent: await intentId(stripe, query.paymentReference), limit: 100 })) {
      if (r.metadata?.[keyField] === query.idempotencyKey) return refundOutcome(r);
    }
    return { kind: "failed", reason: "Stripe has no refund for this attempt" };
  }
  let piId = query.paymentReference;
  if (query.paymentReference.startsWith("cs_")) {
    const session = await stripe.checkout.sessions.retrieve(query.paymentReference);
    if (query.kind === "void" && session.status === "expired") return { kind: "succeeded", reference: session.id };
    if (query.kind === "void" && session.status === "open") return { kind: "failed", reason: "the Checkout Session is still open" };
    piId = paidIntentOf(session);
  }
  const pi = await stripe.paymentIntents.retrieve(piId);
  if (query.kind === "capture") {
    if (pi.status === "succeeded") return { kind: "succeeded", reference: pi.id };
    if (pi.status === "processing") return { kind: "pending", reference: pi.id };
    return { kind: "failed", reference: pi.id, reason: `Stripe did not capture the payment (it is ${pi.status})` };
  }
  return pi.status === "canceled"
    ? { kind: "succeeded", reference: pi.id }
    : { kind: "failed", reference: pi.id, reason: `Stripe did not cancel the payment (it is ${pi.status})` };
}
