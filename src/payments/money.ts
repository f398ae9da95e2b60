import { invalidArgument } from "./errors.js";

/** An amount as integer minor units plus the decimal string Genstore sent. */
export interface Money {
  minor: number;
  value: string;
  currency: string;
}

const known = new Set(Intl.supportedValuesOf("currency"));
const exponents = new Map<string, number>();

/** ISO 4217 minor-unit exponent (0 for JPY, 2 for USD, 3 for BHD); undefined when unknown. */
export function currencyExponent(currency: string): number | undefined {
  if (!/^[A-Z]{3}$/.test(currency) || !known.has(currency)) return undefined;
  let e = exponents.get(currency);
  if (e === undefined) {
    e = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
    exponents.set(currency, e);
  }
  return e;
}

const decimal = /^(\d{1,15})(?:\.(\d+))?$/;

/**
 * Whether an amount is a positive decimal number at all, whatever its currency: what can be told
 * of a capture or refund amount before the payment (and so its currency) is known.
 */
export function checkAmountSyntax(value: string, field = "amount"): void {
  const m = decimal.exec(value.trim());
  if (!m) throw invalidArgument(`${field} must be a positive decimal number such as "200.00", got "${value}"`);
  if (!/[1-9]/.test(value)) throw invalidArgument(`${field} must be greater than zero`);
}

/**
 * Parses a decimal string in major units ("200.00") into integer minor units, with no floating
 * point. Rejects zero, negatives, exponents, and more decimals than the currency has.
 */
export function parseAmount(value: string, currency: string, field = "amount"): Money {
  const exponent = currencyExponent(currency);
  if (exponent === undefined) throw invalidArgument(`currency must be an ISO 4217 code such as "USD", got "${currency}"`);
  const m = decimal.exec(value.trim());
  if (!m) throw invalidArgument(`${field} must be a positive decimal number such as "200.00", got "${value}"`);
  const whole = m[1] ?? "0";
  const fraction = (m[2] ?? "").replace(/0+$/, "");
  if (fraction.length > exponent) {
    throw invalidArgument(`${field} "${value}" has more decimals than ${currency} allows (${exponent})`);
  }
  const digits = whole + fraction.padEnd(exponent, "0");
  const minor = Number(digits);
  if (!Number.isSafeInteger(minor)) throw invalidArgument(`${field} "${value}" is too large`);
  if (minor === 0) throw invalidArgument(`${field} must be greater than zero`);
  return { minor, value: value.trim(), currency };
}

/** Formats minor units back to a decimal string with the currency's exponent. */
export function formatMinor(minor: number, currency: string): string {
  const exponent = currencyExponent(currency) ?? 2;
  if (exponent === 0) return String(minor);
  const s = String(minor).padStart(exponent + 1, "0");
  return `${s.slice(0, -exponent)}.${s.slice(-exponent)}`;
}
