import { StripeAmountError, toStripeAmount } from "../../src/psp/stripe/amounts";

test("two-decimal currencies pass through in minor units, lower-cased", () => {
  expect(toStripeAmount({ minor: 1999, currency: "USD" })).toEqual({ amount: 1999, currency: "usd" });
  expect(toStripeAmount({ minor: 1234, currency: "TWD" })).toEqual({ amount: 1234, currency: "twd" });
});

test("our minor units follow Intl's digits (HUF has none there); Stripe counts HUF in fillér", () => {
  expect(toStripeAmount({ minor: 1050, currency: "HUF" })).toEqual({ amount: 105000, currency: "huf" });
});

test("zero-decimal currencies are whole units", () => {
  expect(toStripeAmount({ minor: 500, currency: "JPY" })).toEqual({ amount: 500, currency: "jpy" });
  expect(toStripeAmount({ minor: 12000, currency: "KRW" })).toEqual({ amount: 12000, currency: "krw" });
});

test("ISK is zero-decimal in ISO 4217 but two-decimal at Stripe: 5 ISK is 500", () => {
  expect(toStripeAmount({ minor: 5, currency: "ISK" })).toEqual({ amount: 500, currency: "isk" });
});

test("three-decimal currencies must end in 0 at Stripe", () => {
  expect(toStripeAmount({ minor: 5120, currency: "KWD" })).toEqual({ amount: 5120, currency: "kwd" });
  expect(() => toStripeAmount({ minor: 5124, currency: "KWD" })).toThrow(StripeAmountError);
  expect(() => toStripeAmount({ minor: 5124, currency: "KWD" })).toThrow(/steps of 0\.010/);
});
