import Stripe from "stripe";
import { PspConfigurationError, type OperationOutcome, type PaymentOutcome, type PspContext } from "../connector.js";
import { classifyStripeError, NothingSentError, type StripeFailure } from "./errors.js";
import { keyField, sessionIntentId } from "./outcomes.js";

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

const keyPattern = { test: /^(sk|rk)_test_\w+$/, live: /^(sk|rk)_live_\w+$/ } as const;
const credentialNames = ["secretKey", "webhookSecret"];
const MAX_CLIENTS = 1000;

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

/** A payment Stripe refused is declined; one it may have taken is unknown. */
export const paymentFailure = (f: StripeFailure): PaymentOutcome =>
  f.kind === "refused" ? { kind: "declined", reason: f.reason, ...(f.reference ? { reference: f.reference } : {}) } : f;
export const operationFailure = (f: StripeFailure): OperationOutcome => (f.kind === "refused" ? { kind: "failed", reason: f.reason } : f);
/** A status query that fails tells nothing. */
export const statusFailure = (f: StripeFailure) => ({ ...f, kind: "unknown" as const });

/** Our idempotency key and shop in an object's metadata, so that search and webhooks find it. */
export const metadataOf = (ctx: PspContext, key: string) => ({ [keyField]: key, genstore_shop: ctx.shopId });

/** The PaymentIntent a Checkout Session created; there is none until the buyer paid. */
export function paidIntentOf(session: Stripe.Checkout.Session): string {
  const id = sessionIntentId(session);
  if (!id) throw new NothingSentError(`the buyer has not paid on Checkout Session ${session.id} yet`);
  return id;
}

/** The PaymentIntent behind a reference: offsite payments are known by their Checkout Session first. */
export async function intentId(stripe: Stripe, reference: string): Promise<string> {
  return reference.startsWith("cs_") ? paidIntentOf(await stripe.checkout.sessions.retrieve(reference)) : reference;
}

/** Runs calls with the shop's SDK client (one per secret key, at most MAX_CLIENTS kept). */
export function createStripeClients(opts: StripeOptions) {
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

  /** Runs a call with the shop's client; `failed` says what a Stripe error makes of it. */
  return async function withStripe<T>(ctx: PspContext, call: (stripe: Stripe) => Promise<T>, failed: (f: StripeFailure) => T): Promise<T> {
    const stripe = client(ctx);
    try {
      return await call(stripe);
    } catch (err) {
      return failed(classifyStripeError(err, ctx));
    }
  };
}
