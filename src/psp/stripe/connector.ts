import type { Connector, OperationOutcome, PaymentOutcome } from "../connector.js";
import { createStripeClients, operationFailure, paymentFailure, statusFailure, type StripeOptions } from "./client.js";
import { cancel, capture, operationStatus, refund } from "./operations.js";
import { payOffsite, payWithCard, paymentStatus } from "./payments.js";
import { parseStripeWebhook } from "./webhooks.js";

export { stripeCredentialProblems, type StripeOptions } from "./client.js";

/**
 * The `stripe` connector: card payments as PaymentIntents confirmed with the decrypted card,
 * offsite payments as Checkout Sessions, and capture, void, refund and status queries on them,
 * all through Stripe's official SDK with our idempotency keys (decisions.md D6).
 */
export function createStripeConnector(opts: StripeOptions = {}): Connector {
  const now = opts.now ?? (() => new Date());
  const searchLagMs = opts.searchLagMs ?? 10 * 60_000;
  const withStripe = createStripeClients(opts);
  return {
    name: "stripe",
    capabilities: { card: true, offsite: true, manualCapture: true, partialCapture: true, multipleRefunds: true, webhooks: true, movesMoney: true },
    payWithCard: (ctx, input) => withStripe(ctx, (stripe) => payWithCard(stripe, ctx, input), paymentFailure),
    payOffsite: (ctx, input) => withStripe(ctx, (stripe) => payOffsite(stripe, ctx, input), paymentFailure),
    capture: (ctx, input) => withStripe<OperationOutcome>(ctx, (stripe) => capture(stripe, input), operationFailure),
    void: (ctx, input) => withStripe<OperationOutcome>(ctx, (stripe) => cancel(stripe, input), operationFailure),
    refund: (ctx, input) => withStripe<OperationOutcome>(ctx, (stripe) => refund(stripe, ctx, input), operationFailure),
    paymentStatus: (ctx, query) => withStripe<PaymentOutcome>(ctx, (stripe) => paymentStatus(stripe, query, now(), searchLagMs), statusFailure),
    operationStatus: (ctx, query) => withStripe<OperationOutcome>(ctx, (stripe) => operationStatus(stripe, query), statusFailure),
    parseWebhook: parseStripeWebhook,
  };
}
