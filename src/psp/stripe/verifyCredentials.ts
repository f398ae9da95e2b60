import Stripe from "stripe";
import type { StripeOptions } from "./client.js";
import { stripeCredentialProblems } from "./client.js";

/**
 * Checks one mode's Stripe credentials with a read-only call (GET /v1/balance) made with the key,
 * through the same API base as payments (stripe-mock in tests). The key's mode must be the mode
 * it is entered for, and Stripe must accept it. Messages never contain the key.
 */
export async function verifyStripeCredentials(
  opts: StripeOptions | undefined,
  mode: "test" | "live",
  credentials: Readonly<Record<string, string>>,
): Promise<string[]> {
  const format = stripeCredentialProblems(mode, credentials);
  if (format.length || !credentials.secretKey) return format;
  const base = opts?.apiBase ? new URL(opts.apiBase) : undefined;
  const stripe = new Stripe(credentials.secretKey, {
    maxNetworkRetries: 1,
    timeout: Math.min(opts?.timeoutMs ?? 10_000, 10_000),
    telemetry: false,
    appInfo: { name: "genstore-payment-app" },
    ...(base
      ? { host: base.hostname, port: Number(base.port || (base.protocol === "https:" ? 443 : 80)), protocol: base.protocol === "https:" ? "https" : "http" }
      : {}),
  });
  try {
    const balance = await stripe.balance.retrieve();
    if (balance.livemode !== (mode === "live")) return [`${mode} credentials: Stripe says this key belongs to ${balance.livemode ? "live" : "test"} mode`];
    return [];
  } catch (err) {
    if (err instanceof Stripe.errors.StripeAuthenticationError) return [`${mode} credentials: Stripe refused the secret key (wrong, revoked or expired)`];
    if (err instanceof Stripe.errors.StripePermissionError)
      return [`${mode} credentials: this restricted key may not read the balance; allow Balance (read) or use the secret key`];
    if (err instanceof Stripe.errors.StripeConnectionError || err instanceof Stripe.errors.StripeAPIError || err instanceof Stripe.errors.StripeRateLimitError)
      return [`${mode} credentials: Stripe could not be asked just now; nothing was saved, try again in a minute`];
    return [`${mode} credentials: Stripe did not accept the key`];
  }
}
