import { PaymentError } from "../../src/payments/errors";
import { currencyExponent, formatMinor, parseAmount } from "../../src/payments/money";

describe("parseAmount", () => {
  test.each([
    ["200.00", "USD", 20000],
    ["200", "USD", 20000],
    ["0.01", "USD", 1],
    ["100.8", "USD", 10080],
    ["1000", "JPY", 1000],
    ["1.000", "JPY", 1],
    ["12.345", "BHD", 12345],
    ["999999999999999", "JPY", 999999999999999],
  ])("%s %s is %d minor units", (value, currency, minor) => {
    expect(parseAmount(value, currency)).toEqual({ minor, value, currency });
  });

  test.each([
    ["10.001", "USD", /more decimals than USD allows \(2\)/],
    ["10.5", "JPY", /more decimals than JPY allows \(0\)/],
    ["0", "USD", /greater than zero/],
    ["0.00", "USD", /greater than zero/],
    ["-1", "USD", /positive decimal number/],
    ["1e3", "USD", /positive decimal number/],
    ["1,000.00", "USD", /positive decimal number/],
    ["", "USD", /positive decimal number/],
    [".5", "USD", /positive decimal number/],
    ["9999999999999999", "USD", /positive decimal number|too large/],
    ["10", "usd", /ISO 4217/],
    ["10", "ABC", /ISO 4217/],
  ])("%s %s is refused", (value, currency, message) => {
    expect(() => parseAmount(value, currency)).toThrow(PaymentError);
    expect(() => parseAmount(value, currency)).toThrow(message);
  });

  test("no floating point: 0.1 + 0.2 style values stay exact", () => {
    expect(parseAmount("0.29", "USD").minor).toBe(29);
    expect(parseAmount("1.15", "USD").minor).toBe(115);
    expect(parseAmount("4.35", "EUR").minor).toBe(435);
  });

  test("exponents come from ISO 4217 via Intl", () => {
    expect([currencyExponent("USD"), currencyExponent("JPY"), currencyExponent("KWD"), currencyExponent("XXX1")]).toEqual([2, 0, 3, undefined]);
  });

  test("formatMinor is the inverse for canonical values", () => {
    expect(formatMinor(20000, "USD")).toBe("200.00");
    expect(formatMinor(5, "USD")).toBe("0.05");
    expect(formatMinor(1000, "JPY")).toBe("1000");
    expect(formatMinor(12345, "BHD")).toBe("12.345");
  });
});
