import Ajv2020 from "ajv/dist/2020";
import { CapturePaymentRequestSchema } from "../../gen/genstore/payment/v1/payment_service_pb";
import document from "../../gen/genstore/payment/v1/payment_service.openapi.json";
import { checkAmountSyntax, parseAmount } from "../../src/payments/money";
import { normalizeJson } from "../../src/server/gateway/jsonCoercion";

// The OpenAPI document writes the service's input rules as JSON Schema patterns; here both judge
// the same values, edge cases and seeded random ones, and must agree.
// multipleOf in decimal, as JSON Schema means it (and Schemathesis reads it), not in binary floats.
const ajv = new Ajv2020({ strict: false, multipleOfPrecision: 9 });
ajv.addSchema({ $id: "doc", components: document.components });
const schema = (ref: string) => ajv.compile({ $ref: `doc#/components/schemas/${ref}` });
const accepts = (f: () => unknown) => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

/** A seeded generator of short strings over the characters the rules care about. */
function* randomValues(alphabet: string[], count: number, seed = 7): Generator<string> {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < count; i++) {
    let s = "";
    const length = Math.floor(next() * 12);
    for (let j = 0; j < length; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    yield s;
  }
}

const amountChars = ["0", "0", "1", "5", "9", ".", ".", " ", "\t", "\u00a0", "\u2028", "\u0085", "e", "-", "+", "٣", "x"];
const amountEdges = ["200.00", "200", " 200.00 ", "0", "0.00", "0.001", "0.01", "1.", ".5", "1.230", "1.234", "007", "1e3", "-1", "+1", "1,00", "١٢"];

test.each([
  ["Amount0", "JPY"],
  ["Amount2", "USD"],
  ["Amount3", "BHD"],
])("%s accepts exactly the decimal strings the service takes in %s", (ref, currency) => {
  const check = schema(ref);
  for (const value of [...amountEdges, ...randomValues(amountChars, 3000)]) {
    expect([value, check(value)]).toEqual([value, accepts(() => parseAmount(value, currency))]);
  }
});

test("Amount (capture, refund) accepts exactly the decimal strings whose syntax the service takes before it knows the currency", () => {
  const check = schema("Amount");
  for (const value of [...amountEdges, ...randomValues(amountChars, 3000, 11)]) {
    expect([value, check(value)]).toEqual([value, accepts(() => checkAmountSyntax(value))]);
  }
});

test("JSON numbers for amounts: the schema takes those whose text the service takes", () => {
  const numbers = [0.01, 0.1, 0.29, 0.57, 1, 200, 200.5, 1e-7, 0.001, 1e13, 90071992547409.9, 123456.78, 5e-324, 1e21, -1, 0];
  for (const [ref, currency] of [
    ["Amount0", "JPY"],
    ["Amount2", "USD"],
    ["Amount3", "BHD"],
  ] as const) {
    const check = schema(ref);
    for (const n of numbers) expect([ref, n, check(n)]).toEqual([ref, n, accepts(() => parseAmount(String(n), currency))]);
  }
});

test("booleans: the schema takes exactly what the service reads as true or false", () => {
  const check = ajv.compile(document.components.schemas.CapturePaymentRequest.properties.test);
  const edges = [true, false, "true", "false", "TRUE", " False ", "\u00a0true\u2028", "falſe", "yes", "1", 1, "", "true false", "tru", null];
  const chars = ["t", "r", "u", "e", "f", "a", "l", "s", "T", "E", " ", "\t", "\u00a0", "ſ", "x"];
  for (const value of [...edges, ...randomValues(chars, 3000, 3)]) {
    const service = accepts(() => normalizeJson(CapturePaymentRequestSchema, { test: value }));
    // null is "not sent" to the service (then `test is required` refuses it); the schema says the same by type.
    expect([value, check(value)]).toEqual([value, value === null ? false : service]);
  }
});
