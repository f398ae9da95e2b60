import { PassThrough } from "node:stream";
import { createJsonLogger, maskPans } from "../../src/observability/logger";

function capture(entry: Record<string, unknown>): string {
  const stream = new PassThrough();
  let out = "";
  stream.on("data", (c: Buffer) => (out += c.toString()));
  createJsonLogger(stream, "debug")(entry);
  return out;
}

test("card and secret fields are redacted by name at any depth", () => {
  const line = capture({
    msg: "x",
    body: { paymentMethod: { data: { cipherText: "abc" } }, card: { number: "4242424242424242", cvv: "123" } },
    shop: { testCredentials: { secretKey: "sk_test_1" }, genstoreAccessToken: "tok" },
    nested: [{ cvc: "999", pan: "5555555555554444" }],
  });
  const parsed = JSON.parse(line);
  expect(parsed.body).toEqual({ paymentMethod: "[redacted]", card: "[redacted]" });
  expect(parsed.shop).toEqual({ testCredentials: "[redacted]", genstoreAccessToken: "[redacted]" });
  expect(parsed.nested).toEqual([{ cvc: "[redacted]", pan: "[redacted]" }]);
  // Quoted values only: the line's own timestamp may hold "999" (…12.999Z).
  expect(line).not.toMatch(/4242424242424242|5555555555554444|sk_test_1|"123"|"999"/);
});

test("a card number inside free text is masked; other digit runs are kept", () => {
  expect(maskPans("failed for 4242 4242 4242 4242 at 12:00")).toBe("failed for [card number] at 12:00");
  expect(maskPans("order 1234567890123 id")).toBe("order 1234567890123 id"); // fails Luhn
  // Digits written before or after it do not hide a card number (an echoed amount, say).
  expect(maskPans("amount 4242 4242 4242 4242 123 is not valid")).toBe("amount [card number] is not valid");
  expect(maskPans("amount 10 4242424242424242")).toBe("amount [card number]");
  expect(maskPans("x 1234 5678 4242 4242 4242 4242-99 y")).toBe("x [card number] y");
  expect(maskPans("on 2026-11-30 12 00 for 100 200")).toBe("on 2026-11-30 12 00 for 100 200");
  expect(capture({ msg: "error: card 4000-0000-0000-0002 declined" })).toContain("error: card [card number] declined");
});

test("levels below the minimum are dropped", () => {
  const stream = new PassThrough();
  let out = "";
  stream.on("data", (c: Buffer) => (out += c.toString()));
  const log = createJsonLogger(stream, "warn");
  log({ level: "info", msg: "quiet" });
  log({ level: "error", msg: "loud" });
  expect(
    out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).msg),
  ).toEqual(["loud"]);
});
