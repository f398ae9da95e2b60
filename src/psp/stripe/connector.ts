import Stripe from "stripe";
import { PspConfigurationError, type Connector, type OperationOutcome, type PaymentOutcome, type PspContext } from "../connector.js";
import { toStripeAmount } from "./amounts.js";
import { NothingSentError, classifyStripeError, type StripeFailure } from "./errors.js";
import { intentOutcome, keyField, refundOutcome, sessionIntentId, sessionOutcome } from "./outcomes.js";
import { parseStripeWebhook } from "./webhooks.js";

export interface StripeOptions {
  /** Another API base (stripe-mock in tests); Stripe's API when unset. */
  apiBase?: string | undefined;
  timeoutMs?: number;
  /** The SDK retries network errors and 409/429/5xx with the same idempotency key. */
  maxNetworkRetries?: number;
  /**
   * Stripe's search lags behind writes (up to about a minute): a payment with no reference is
   * taken as never created only when search has not found it this long after it was sent.
   */
  searchLagMs?: number;
  now?: () => Date;
}

/** A payment Stripe refused is declined; one it may have taken is unknown. */
const paymentFailure = (f: StripeFailure): PaymentOutcome => ({
  kind: f.kind === "refused" ? "declined" : "unknown",
  reason: f.reason,
  ...(f.reference ? { reference: f.reference } : {}),
});
const operationFailure = (f: StripeFailure): OperationOutcome => ({ kind: f.kind === "refused" ? "failed" : "unknown", reason: f.reason });
/** A status query that fails tells nothing. */
const statusFailure = (f: StripeFailure) => ({ kind: "unknown" as const, reason: f.reason });

const keyPattern = { test: /^(sk|rk)_test_\w+$/, live: /^(sk|rk)_live_\w+$/ } as const;
const credentialNames = ["secretKey", "webhookSecret"];

/** Problems with one mode's Stripe credentials; a mode with none is simply not set up. */
export function stripeCredentialProblems(mode: "test" | "live", credentials: Readonly<Record<string, string>>): string[] {
  const names = Object.keys(credentials);
  if (names.length === 0) return [];
  const problems: string[] = [];
  const unknown = names.filter((n) => !credentialNames.includes(n));
  if (unknown.length) problems.push(`${mode} credentials: unknown ${unknown.join(", ")} (Stripe takes ${credentialNames.join(" and ")})`);
  if (!credentials.secretKey) problems.push(`${mode} credentials: secretKey is required`);
  else if (!keyPattern[mode].test(credentials.secretKey))
    problems.push(`${mode} credentials: secretKey must be a Stripe ${mode} key (sk_${mode}_… or rk_${mode}_…)`);
  if (credentials.webhookSecret !== undefined && !/^whsec_\w+$/.test(credentials.webhookSecret))
    problems.push(`${mode} credentials: webhookSecret must be a Stripe endpoint secret (whsec_…)`);
  return problems;
}

const MAX_CLIENTS = 1000;

/**
 * The `stripe` connector: card payments as PaymentIntents confirmed with the decrypted card,
 * offsite payments as Checkout Sessions, and capture, void, refund and status queries on them,
 * all through Stripe's official SDK with our idempotency keys (design §2.6, issue 6).
 */
export function createStripeConnector(opts: StripeOptions = {}): Connector {
  const now = opts.now ?? (() => new Date());
  const searchLagMs = opts.searchLagMs ?? 10 * 60_000;
  const base = opts.apiBase ? new URL(opts.apiBase) : undefined;
  const clients = new Map<string, Stripe>();

  /** One SDK client per secret key; the key's mode must be the request's. */
  function client(ctx: PspContext): Stripe {
    const key = ctx.credentials.secretKey;
    if (!key || !keyPattern[ctx.mode].test(key)) {
      throw new PspConfigurationError(
        "the payment provider is not configured for this shop",
        `shop ${ctx.shopId} has ${key ? `a secretKey that is not a Stripe ${ctx.mode} key` : "no Stripe secretKey"} in its ${ctx.mode} credentials; ${ctx.mode} requests need sk_${ctx.mode}_… or rk_${ctx.mode}_…`,
      );
    }
    let c = clients.get(key);
    if (!c) {
      c = new Stripe(key, {
        maxNetworkRetries: opts.maxNetworkRetries ?? 2,
        timeout: opts.timeoutMs ?? 30_000,
        telemetry: false,
        appInfo: { name: "genstore-payment-app" },
        ...(base
          ? { host: base.hostname, port: Number(base.port || (base.protocol === "https:" ? 443 : 80)), protocol: base.protocol === "https:" ? "https" : "http" }
          : {}),
      });
      if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value as string);
      clients.set(key, c);
    }
    return c;
  }

  /** The PaymentIntent a Checkout Session created; there is none until the buyer paid. */
  function paidIntentOf(session: Stripe.Checkout.Session): string {
    const id = sessionIntentId(session);
    if (!id) throw new NothingSentError(`the buyer has not paid on Checkout Session ${session.id} yet`);
    return id;
  }

  /** The PaymentIntent behind a reference: offsite payments are known by their Checkout Session first. */
  async function intentId(stripe: Stripe, reference: string): Promise<string> {
    return reference.startsWith("cs_") ? paidIntentOf(await stripe.checkout.sessions.retrieve(reference)) : reference;
  }

  /** Runs a call with the shop's client; `failed` says what a Stripe error makes of it. */
  async function withStripe<T>(ctx: PspContext, call: (stripe: Stripe) => Promise<T>, failed: (f: StripeFailure) => T): Promise<T> {
    const stripe = client(ctx);
    try {
      return await call(stripe);
    } catch (err) {
      return failed(classifyStripeError(err, ctx));
    }
  }

  const metadata = (ctx: PspContext, key: string) => ({ [keyField]: key, genstore_shop: ctx.shopId });

  return {
    name: "stripe",
    capabilities: { card: true, offsite: true, manualCapture: true, partialCapture: true, multipleRefunds: true, webhooks: true, movesMoney: true },

    payWithCard: (ctx, input) =>
      withStripe(
        ctx,
        async (stripe) => {
          const money = toStripeAmount(input.amount);
          const { card } = input;
          // Raw card numbers need Stripe's "raw card data" permission on the account (README).
          const pm = await stripe.paymentMethods.create(
            {
              type: "card",
              card: { number: card.number, exp_month: card.expiryMonth, exp_year: card.expiryYear, cvc: card.cvv },
              ...(card.holderName ? { billing_details: { name: card.holderName } } : {}),
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
              metadata: metadata(ctx, input.idempotencyKey),
            },
            { idempotencyKey: input.idempotencyKey },
          );
          return intentOutcome(pi);
        },
        paymentFailure,
      ),

    payOffsite: (ctx, input) =>
      withStripe(
        ctx,
        async (stripe) => {
          const money = toStripeAmount(input.amount);
          const session = await stripe.checkout.sessions.create(
            {
              mode: "payment",
              line_items: [{ quantity: 1, price_data: { currency: money.currency, unit_amount: money.amount, product_data: { name: input.description } } }],
              payment_intent_data: {
                capture_method: input.capture ? "automatic" : "manual",
                description: input.description,
                metadata: metadata(ctx, input.idempotencyKey),
              },
              metadata: metadata(ctx, input.idempotencyKey),
              // Both lead to our return endpoint: it asks Stripe how it ended, or expires the session.
              success_url: input.returnUrl,
              cancel_url: input.cancelUrl,
            },
            { idempotencyKey: input.idempotencyKey },
          );
          return sessionOutcome(session);
        },
        paymentFailure,
      ),

    capture: (ctx, input) =>
      withStripe<OperationOutcome>(
        ctx,
        async (stripe) => {
          const { amount } = toStripeAmount(input.amount);
          const pi = await stripe.paymentIntents.capture(
            await intentId(stripe, input.reference),
            { amount_to_capture: amount },
            { idempotencyKey: input.idempotencyKey },
          );
          if (pi.status === "succeeded") return { kind: "succeeded", reference: pi.id };
          if (pi.status === "processing") return { kind: "pending", reference: pi.id };
          return { kind: "failed", reference: pi.id, reason: `the payment is ${pi.status} at Stripe after the capture` };
        },
        operationFailure,
      ),

    void: (ctx, input) =>
      withStripe<OperationOutcome>(
        ctx,
        async (stripe) => {
          let piId = input.reference;
          if (input.reference.startsWith("cs_")) {
            // A Checkout Session the buyer has not paid is expired; a paid one has a PaymentIntent to cancel.
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
        },
        operationFailure,
      ),

    refund: (ctx, input) =>
      withStripe<OperationOutcome>(
        ctx,
        async (stripe) => {
          const { amount } = toStripeAmount(input.amount);
          const refund = await stripe.refunds.create(
            { payment_intent: await intentId(stripe, input.reference), amount, metadata: metadata(ctx, input.idempotencyKey) },
            { idempotencyKey: input.idempotencyKey },
          );
          return refundOutcome(refund);
        },
        operationFailure,
      ),

    paymentStatus: (ctx, query) =>
      withStripe<PaymentOutcome>(
        ctx,
        async (stripe) => {
          if (query.reference?.startsWith("cs_"))
            return sessionOutcome(await stripe.checkout.sessions.retrieve(query.reference, { expand: ["payment_intent"] }));
          if (query.reference) return intentOutcome(await stripe.paymentIntents.retrieve(query.reference));
          // Stripe looks nothing up by idempotency key; our key is in the PaymentIntent's metadata.
          const found = await stripe.paymentIntents.search({ query: `metadata['${keyField}']:'${query.idempotencyKey}'`, limit: 1 });
          const pi = found.data[0];
          if (pi) return intentOutcome(pi);
          if (now().getTime() - query.createdAt.getTime() > searchLagMs)
            return { kind: "declined", reason: "Stripe has no payment for this attempt: the request never reached Stripe" };
          return { kind: "unknown", reason: "Stripe's search does not show this payment yet" };
        },
        statusFailure,
      ),

    operationStatus: (ctx, query) =>
      withStripe<OperationOutcome>(
        ctx,
        async (stripe) => {
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
        },
        statusFailure,
      ),

    parseWebhook: parseStripeWebhook,
  };
}
