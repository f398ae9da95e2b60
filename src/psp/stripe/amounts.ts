import type { PspAmount } from "../connector.js";
import { NothingSentError } from "./errors.js";

/** Stripe's zero-decimal currencies: amounts in whole units (docs.stripe.com/currencies). */
const zeroDecimal = new Set(["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]);
/** Three-decimal currencies: Stripe wants the last digit 0. */
const threeDecimal = new Set(["BHD", "JOD", "KWD", "OMR", "TND"]);

/** Stripe cannot take the amount as given (e.g. 1.234 KWD); nothing was sent. */
export class StripeAmountError extends NothingSentError {
  override name = "StripeAmountError";
}

function isoExponent(currency: string): number {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/**
 * Our amount (minor units by Intl's digits, as money.ts parses them) in Stripe's units. Mostly
 * the same number; ISK and HUF have no decimals for us but two at Stripe (1 ISK = 100), and
 * three-decimal currencies must end in 0.
 */
export function toStripeAmount(amount: PspAmount): { amount: number; currency: string } {
  const code = amount.currency.toUpperCase();
  const iso = isoExponent(code);
  const stripe = zeroDecimal.has(code) ? 0 : threeDecimal.has(code) ? 3 : 2;
  let value: number;
  if (stripe >= iso) {
    value = amount.minor * 10 ** (stripe - iso);
  } else {
    const step = 10 ** (iso - stripe);
    if (amount.minor % step !== 0) throw new StripeAmountError(`Stripe takes ${code} amounts in whole units only`);
    value = amount.minor / step;
  }
  if (threeDecimal.has(code) && value % 10 !== 0) throw new StripeAmountError(`Stripe takes ${code} amounts in steps of 0.010 (the last digit must be 0)`);
  if (!Number.isSafeInteger(value)) throw new StripeAmountError(`amount too large for Stripe`);
  return { amount: value, currency: code.toLowerCase() };
}
