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
 * "true" or "false" in any letter case, around whitespace (jsonCoercion.ts: trim, then /^(true|false)$/i;
 * "ſ" upper-cases to "S", so JavaScript's case-insensitive match takes it for an "s").
 */
export const booleanText = `^[${ws}]*(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss\\u017f][Ee])[${ws}]*$`;

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

/** A JSON number: jsonCoercion.ts reads it as its JavaScript text (200.5 is "200.5"). */
function amountNumber(exponent: number): JsonSchema {
  return { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 10 ** (15 - exponent), multipleOf: 10 ** -exponent };
}

/** An amount for a currency with `exponent` decimals, as a decimal string or a JSON number. */
function amountSchema(exponent: number): JsonSchema {
  return {
    description: `An amount greater than zero in major units of a currency with ${exponent} decimals: a decimal string ("200.00") or a JSON number.`,
    anyOf: [{ type: "string", pattern: amountPattern(exponent) }, amountNumber(exponent)],
    examples: [exponent === 0 ? "200" : `200.${"0".repeat(exponent)}`],
  };
}

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

/** An http(s) URL the buyer is sent back to (redirects.ts; https only in production). */
const redirectUrl: JsonSchema = {
  description: "An http(s) URL (https only in production) on a host the shop allows, without credentials.",
  type: "string",
  pattern:
    "^https?://[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[1-9][0-9]{0,3})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$",
  format: "uri",
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
      return amountRef(hasCurrency ? usualExponent : Math.max(...currenciesByExponent().keys()));
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
