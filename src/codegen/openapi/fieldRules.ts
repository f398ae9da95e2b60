// JSON Schema for what the Genstore JSON routes accept, field by field. The proto says which fields
// exist, which are required and which hold Genstore ids; the rules below are the ones the service
// applies in code (jsonCoercion.ts, validateRequest.ts, money.ts, redirects.ts), written as
// patterns so that a client generator or a fuzzer knows them too. Patterns are ECMA-262 and
// Python-compatible, and spell out character classes rather than \s or \d, whose meaning differs
// between regex engines.
import { currencyExponent } from "../../payments/money.js";

export type JsonSchema = { [key: string]: unknown };

/** What String.prototype.trim removes (ECMAScript WhiteSpace and LineTerminator), as a class body. */
const ws = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff";

/** Has a character that is not whitespace: what a required string must have (validateRequest.ts). */
export const nonBlank = `[^${ws}]`;

/**
 * "true" or "false" in any ASCII letter case, around whitespace (jsonCoercion.ts: trim, then
 * /^(true|false)$/i, which folds no non-ASCII letter onto an ASCII one).
 */
export const booleanText = `^[${ws}]*(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])[${ws}]*$`;

/**
 * An amount in major units (money.ts): trimmed, 1-15 integer digits, optional decimals of which at
 * most `exponent` are significant (trailing zeros are free), not zero. The integer part is held to
 * 15 - exponent digits so that the amount in minor units stays an exact JavaScript integer.
 */
export function amountPattern(exponent: number): string {
  const whole = `[0-9]{1,${15 - exponent}}`;
  const decimals = exponent === 0 ? "(?:\\.0+)?" : `(?:\\.(?:[0-9]{1,${exponent}}0*|0+))?`;
  return `^[${ws}]*(?!0+(?:\\.0+)?[${ws}]*$)${whole}${decimals}[${ws}]*$`;
}

/** ISO 4217 codes the service knows, by the number of decimals it allows (money.ts reads them from Intl). */
export function currenciesByExponent(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const code of Intl.supportedValuesOf("currency")) {
    const e = currencyExponent(code);
    if (e === undefined) continue;
    out.set(e, [...(out.get(e) ?? []), code]);
  }
  return out;
}

/**
 * The largest amount in major units whose minor units are an exact JavaScript integer, as a JSON
 * number: 90071992547409.91 for 2 decimals. The integer part has at most 15 digits either way.
 */
function largestAmount(exponent: number): number {
  const digits = String(Number.MAX_SAFE_INTEGER);
  const whole = digits.slice(0, digits.length - exponent);
  return exponent === 0 ? 10 ** 15 - 1 : Number(`${whole}.${digits.slice(-exponent)}`);
}

/** A JSON number: jsonCoercion.ts reads it as its JavaScript text (200.5 is "200.5"). */
function amountNumber(exponent: number): JsonSchema {
  return { type: "number", minimum: 10 ** -exponent, maximum: largestAmount(exponent), multipleOf: 10 ** -exponent };
}

/** An amount for a currency with `exponent` decimals, as a decimal string or a JSON number. */
function amountSchema(exponent: number): JsonSchema {
  return {
    description: `An amount greater than zero in major units of a currency with ${exponent} decimals: a decimal string ("200.00") or a JSON number.`,
    anyOf: [{ type: "string", pattern: amountPattern(exponent) }, amountNumber(exponent)],
    examples: [exponent === 0 ? "200" : `200.${"0".repeat(exponent)}`],
  };
}

/**
 * An amount before its currency is known (capture, refund: the payment's): a positive decimal with
 * at most 15 integer digits (money.ts checkAmountSyntax). What the payment's currency does not
 * allow is then a refusal of that payment, answered 200 with the reason.
 */
const anyAmount: JsonSchema = {
  description:
    'An amount greater than zero in major units of the payment\'s currency: a decimal string ("200.00") or a JSON number. ' +
    "More decimals than that currency has is refused like an amount over what is left (200, with the reason in `error`).",
  anyOf: [
    { type: "string", pattern: `^[${ws}]*(?!0+(?:\\.0+)?[${ws}]*$)[0-9]{1,15}(?:\\.[0-9]+)?[${ws}]*$` },
    { type: "number", minimum: 0.000001, exclusiveMaximum: 10 ** 15 },
  ],
  examples: ["200.00"],
};

const amountRef = (exponent: number) => ({ $ref: `#/components/schemas/Amount${exponent}` });

/** The exponent most currencies have: the plain `amount` rule; the others come as if/then. */
export const usualExponent = 2;

/** if currency is one with another exponent, then amount follows that exponent. */
export function currencyRules(): JsonSchema[] {
  return [...currenciesByExponent()]
    .filter(([e]) => e !== usualExponent)
    .sort(([a], [b]) => a - b)
    .map(([e, codes]) => ({
      if: { properties: { currency: { enum: codes } }, required: ["currency"] },
      then: { properties: { amount: amountRef(e) } },
    }));
}

/** The schemas the rules refer to, for components.schemas. */
export function ruleSchemas(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  out.Amount = anyAmount;
  for (const e of [...currenciesByExponent().keys()].sort((a, b) => a - b)) out[`Amount${e}`] = amountSchema(e);
  out.Currency = {
    description: "An ISO 4217 alpha-3 code this service knows.",
    type: "string",
    enum: [...currenciesByExponent().values()].flat().sort(),
    examples: ["USD"],
  };
  out.RedirectUrl = redirectUrl;
  return out;
}

/** Characters of a URL path, query or fragment that need no escaping, and escapes. */
const urlChars = "(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})";
const hostLabel = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";

/**
 * An http(s) URL the buyer is sent back to (redirects.ts; https only in production). The service
 * takes what a WHATWG URL parser takes; the pattern is the plain form of it a client should send.
 */
const redirectUrl: JsonSchema = {
  description: "An http(s) URL (https only in production) on a host the shop allows, without credentials.",
  type: "string",
  pattern: `^https?://${hostLabel}(?:\\.${hostLabel})*(?::[1-9][0-9]{0,3})?(?:/${urlChars}*)?(?:\\?${urlChars}*)?(?:#${urlChars}*)?$`,
  examples: ["https://www.xxx.shop/pay/result"],
};

/**
 * Rules of fields whose values the service checks beyond their type, by proto field name. An
 * amount beside a currency follows that currency (see currencyRules); one without (capture,
 * refund) follows the payment's, which the schema cannot know: it allows the most decimals.
 */
export function ruleOf(fieldName: string, required: boolean, hasCurrency: boolean): JsonSchema | undefined {
  switch (fieldName) {
    case "currency":
      return { $ref: "#/components/schemas/Currency" };
    case "amount":
      return hasCurrency ? amountRef(usualExponent) : { $ref: "#/components/schemas/Amount" };
    case "return_url":
    case "cancel_url": {
      const url = { $ref: "#/components/schemas/RedirectUrl" };
      // An optional one may be empty: it is then not used.
      return required ? url : { anyOf: [url, { type: "string", const: "" }, { type: "null" }] };
    }
    default:
      return undefined;
  }
}
