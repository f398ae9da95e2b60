import type Stripe from "stripe";
import type { OperationOutcome, PaymentOutcome } from "../connector.js";
import { declineReason } from "./errors.js";

/** Where we keep our idempotency key on Stripe objects: status queries and webhooks find payments by it. */
export const keyField = "genstore_key";

/** A PaymentIntent's status as our outcome; a status we do not know is pending, never a decline. */
export function intentOutcome(pi: Stripe.PaymentIntent): PaymentOutcome {
  const reference = pi.id;
  switch (pi.status) {
    case "succeeded":
      return { kind: "approved", reference };
    case "requires_capture":
      return { kind: "authorized", reference };
    case "requires_action": {
      const url = pi.next_action?.type === "redirect_to_url" ? pi.next_action.redirect_to_url?.url : undefined;
      return url ? { kind: "requires_action", reference, url } : { kind: "pending", reference };
    }
    case "requires_payment_method": {
      // After a confirmation this means the attempt failed and the buyer may try another card.
      const e = pi.last_payment_error;
      return { kind: "declined", reference, reason: declineReason(e?.message, e?.decline_code ?? e?.code) };
    }
    case "canceled":
      return { kind: "declined", reference, reason: `the payment was cancelled${pi.cancellation_reason ? ` (${pi.cancellation_reason})` : ""}` };
    default:
      return { kind: "pending", reference };
  }
}

/** The id of the PaymentIntent a Checkout Session created (once the buyer paid), expanded or not. */
export function sessionIntentId(s: Stripe.Checkout.Session): string | undefined {
  const intent = s.payment_intent;
  return (typeof intent === "string" ? intent : intent?.id) ?? undefined;
}

/** A Checkout Session as our outcome; with its PaymentIntent expanded the outcome is exact. */
export function sessionOutcome(s: Stripe.Checkout.Session): PaymentOutcome {
  const intent = s.payment_intent;
  if (s.status === "open") return s.url ? { kind: "requires_action", reference: s.id, url: s.url } : { kind: "pending", reference: s.id };
  if (s.status === "expired") return { kind: "declined", reference: s.id, reason: "the buyer did not complete the Stripe Checkout page" };
  if (intent && typeof intent === "object") return intentOutcome(intent);
  const reference = sessionIntentId(s) ?? s.id;
  if (s.status === "complete" && s.payment_status === "paid") return { kind: "approved", reference };
  return { kind: "pending", reference };
}

/** A Refund as our outcome. */
export function refundOutcome(r: Stripe.Refund): OperationOutcome {
  switch (r.status) {
    case "succeeded":
      return { kind: "succeeded", reference: r.id };
    case "failed":
    case "canceled":
      return { kind: "failed", reference: r.id, reason: `Stripe could not refund${r.failure_reason ? `: ${r.failure_reason.replace(/_/g, " ")}` : ""}` };
    default:
      return { kind: "pending", reference: r.id };
  }
}
