import Stripe from "stripe";
import { PspConfigurationError, type PspContext } from "../connector.js";

/** We refused the call before sending it (Stripe could not take it as it is); nothing happened. */
export class NothingSentError extends Error {
  override name = "NothingSentError";
}

/** What a Stripe error means for the call that raised it. */
export type StripeFailure =
  /** Stripe did nothing and will not (a card decline, a refused request): a decline or a failed operation. */
  | { kind: "refused"; reason: string; reference?: string }
  /** Stripe may or may not have acted (network, 5xx, rate limit): only a status query tells. */
  | { kind: "unknown"; reason: string; reference?: string; unreachable?: boolean };

/** "Your card was declined. (insufficient_funds)": Stripe's buyer-safe text plus its code. */
export function declineReason(message: string | undefined, code: string | undefined | null): string {
  const text = message || "The card was declined.";
  return code ? `${text} (${code})` : text;
}

/**
 * Classifies an error of a Stripe call: card declines are refusals with a readable
 * reason, network errors and 5xx are unknown, and rejected credentials are the operator's to
 * fix (thrown as PspConfigurationError, nothing happened at Stripe).
 */
export function classifyStripeError(err: unknown, ctx: PspContext): StripeFailure {
  if (err instanceof NothingSentError) return { kind: "refused", reason: err.message };
  if (!(err instanceof Stripe.errors.StripeError)) return { kind: "unknown", reason: "the call to Stripe failed", unreachable: true };
  const reference = err.payment_intent?.id;
  const ref = reference ? { reference } : {};
  if (err instanceof Stripe.errors.StripeCardError) return { kind: "refused", reason: declineReason(err.message, err.decline_code ?? err.code), ...ref };
  if (err instanceof Stripe.errors.StripeAuthenticationError || err instanceof Stripe.errors.StripePermissionError) {
    throw new PspConfigurationError(
      "the payment provider refused this shop's credentials",
      `Stripe refused the ${ctx.mode} secret key of shop ${ctx.shopId} (HTTP ${err.statusCode ?? "?"}): ${err.message.replace(/\.$/, "")}. Set a valid ${ctx.mode} key with ShopService.UpdateShop.`,
    );
  }
  if (err instanceof Stripe.errors.StripeInvalidRequestError && err.statusCode !== undefined && err.statusCode < 500 && err.statusCode !== 409) {
    return { kind: "refused", reason: `Stripe refused the request: ${err.message}`, ...ref };
  }
  // Connection errors, 5xx, 429 and idempotency conflicts: Stripe may have acted.
  // Stripe unreachable or failing (not a conflict or a rate limit) counts toward the circuit breaker.
  const unreachable = err instanceof Stripe.errors.StripeConnectionError || (err.statusCode ?? 0) >= 500;
  return {
    kind: "unknown",
    reason: `Stripe did not answer clearly (${err.rawType ?? err.type}${err.statusCode ? ` ${err.statusCode}` : ""})`,
    ...ref,
    ...(unreachable ? { unreachable } : {}),
  };
}
