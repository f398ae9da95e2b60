import Stripe from "stripe";
import { WebhookSignatureError, type WebhookEvent, type WebhookShop } from "../connector.js";
import { intentOutcome, keyField, refundOutcome, sessionIntentId, sessionOutcome } from "./outcomes.js";

/**
 * Verifies a Stripe webhook with the shop's test or live endpoint secret and maps the event.
 * Returns null for genuine events about nothing of ours (other event types, other integrations'
 * objects). Stripe signs per account, so the event must come to the shop's own URL.
 */
export function parseStripeWebhook(rawBody: Buffer, headers: Headers, shop: WebhookShop | undefined): WebhookEvent | null {
  if (!shop) throw new WebhookSignatureError("Stripe webhooks go to /psp/stripe/webhooks/{shopId}: each Stripe account signs with its own secret");
  const header = headers.get("stripe-signature");
  if (!header) throw new WebhookSignatureError("missing Stripe-Signature header");
  const modes = [
    ["test", shop.testCredentials.webhookSecret],
    ["live", shop.liveCredentials.webhookSecret],
  ] as const;
  if (!modes.some(([, secret]) => secret)) throw new WebhookSignatureError(`shop ${shop.shopId} has no Stripe webhook secret (credentials.webhookSecret)`);
  for (const [mode, secret] of modes) {
    if (!secret) continue;
    let event: Stripe.Event;
    try {
      event = Stripe.webhooks.constructEvent(rawBody, header, secret);
    } catch (err) {
      if (err instanceof Stripe.errors.StripeSignatureVerificationError) continue;
      throw new WebhookSignatureError("Stripe webhook body is not a Stripe event");
    }
    if (event.livemode !== (mode === "live"))
      throw new WebhookSignatureError(`a ${event.livemode ? "live" : "test"} event signed with the shop's ${mode} secret`);
    return mapEvent(event, mode);
  }
  throw new WebhookSignatureError("Stripe-Signature does not match the shop's webhook secrets (or is older than 5 minutes)");
}

function mapEvent(event: Stripe.Event, mode: "test" | "live"): WebhookEvent | null {
  const base = { id: event.id, mode };
  switch (event.type) {
    case "payment_intent.succeeded":
    case "payment_intent.amount_capturable_updated":
    case "payment_intent.payment_failed":
    case "payment_intent.processing":
    case "payment_intent.requires_action":
    case "payment_intent.canceled": {
      const key = event.data.object.metadata?.[keyField];
      return key ? { ...base, target: "payment", idempotencyKey: key, outcome: intentOutcome(event.data.object) } : null;
    }
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
    case "checkout.session.async_payment_failed":
    case "checkout.session.expired": {
      const s = event.data.object;
      const key = s.metadata?.[keyField];
      if (!key) return null;
      const outcome =
        event.type === "checkout.session.async_payment_failed"
          ? { kind: "declined" as const, reference: sessionIntentId(s) ?? s.id, reason: "the payment failed after the buyer completed Stripe Checkout" }
          : sessionOutcome(s);
      return { ...base, target: "payment", idempotencyKey: key, outcome };
    }
    case "refund.created":
    case "refund.updated":
    case "refund.failed": {
      const key = event.data.object.metadata?.[keyField];
      return key ? { ...base, target: "operation", idempotencyKey: key, outcome: refundOutcome(event.data.object) } : null;
    }
    default:
      return null;
  }
}
