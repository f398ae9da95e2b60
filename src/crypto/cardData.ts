/** The decrypted card is not one we can charge (bad number, expired, …): safe to say why, it decrypted. */
export class CardDataError extends Error {
  override name = "CardDataError";
}

const invalidCard = (message: string) => new CardDataError(message);

/** A decrypted card. Lives only in memory, inside src/crypto and the connector call. */
export interface CardDetails {
  number: string;
  expiryMonth: number;
  expiryYear: number;
  cvv: string;
  holderName: string;
}

const aliases = {
  number: ["number", "cardNumber", "pan"],
  expiryMonth: ["expiryMonth", "expMonth", "month"],
  expiryYear: ["expiryYear", "expYear", "year"],
  cvv: ["cvv", "cvc", "securityCode"],
  holderName: ["holderName", "name", "cardholderName"],
} as const;

function pick(obj: Record<string, unknown>, names: readonly string[]): unknown {
  for (const n of names) if (obj[n] !== undefined && obj[n] !== null) return obj[n];
  return undefined;
}

function text(v: unknown): string {
  return typeof v === "number" ? String(v) : typeof v === "string" ? v.trim() : "";
}

export function luhnValid(number: string): boolean {
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function cardBrand(number: string): string {
  const p2 = Number(number.slice(0, 2));
  const p4 = Number(number.slice(0, 4));
  const p6 = Number(number.slice(0, 6));
  if (number.startsWith("4")) return "visa";
  if ((p2 >= 51 && p2 <= 55) || (p6 >= 222100 && p6 <= 272099)) return "mastercard";
  if (p2 === 34 || p2 === 37) return "amex";
  if (p4 === 6011 || p2 === 65 || (p4 >= 6440 && p4 <= 6499)) return "discover";
  if (p4 >= 3528 && p4 <= 3589) return "jcb";
  if (p2 === 36 || p2 === 38 || (p4 >= 3000 && p4 <= 3059)) return "diners";
  if (p2 === 62) return "unionpay";
  return "unknown";
}

/**
 * Parses the decrypted card JSON, accepting the field aliases of decisions.md D9, and checks it.
 * Error messages name the field, never its value.
 */
export function parseCard(plaintext: Buffer, now: Date = new Date()): CardDetails {
  let obj: unknown;
  try {
    obj = JSON.parse(plaintext.toString("utf8"));
  } catch {
    throw invalidCard("the decrypted card data is not JSON");
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw invalidCard("the decrypted card data is not a JSON object");
  const o = obj as Record<string, unknown>;
  const number = text(pick(o, aliases.number)).replace(/[\s-]/g, "");
  if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) throw invalidCard("the card number is not valid");
  const month = Number(text(pick(o, aliases.expiryMonth)));
  let year = Number(text(pick(o, aliases.expiryYear)));
  if (!Number.isInteger(month) || month < 1 || month > 12) throw invalidCard("the card expiry month is not valid");
  if (!Number.isInteger(year) || year < 0 || (year > 99 && year < 2000) || year > 2199) throw invalidCard("the card expiry year is not valid");
  if (year < 100) year += 2000;
  const nowMonths = now.getUTCFullYear() * 12 + now.getUTCMonth();
  if (year * 12 + (month - 1) < nowMonths) throw invalidCard("the card has expired");
  const cvv = text(pick(o, aliases.cvv));
  const cvvLength = cardBrand(number) === "amex" ? 4 : 3;
  if (!new RegExp(`^\\d{${cvvLength}}$`).test(cvv)) throw invalidCard(`the card security code must have ${cvvLength} digits`);
  return { number, expiryMonth: month, expiryYear: year, cvv, holderName: text(pick(o, aliases.holderName)) };
}

/** What we keep of a card: never the number or the CVV. */
export interface CardSummary {
  brand: string;
  last4: string;
  expiryMonth: number;
  expiryYear: number;
  /** Keyed HMAC of the number: same card, same fingerprint; not reversible without the key. */
  fingerprint: string;
}
