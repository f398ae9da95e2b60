import { randomInt } from "node:crypto";

/** A random card number with a valid Luhn check digit, e.g. for leak tests. */
export function randomCardNumber(prefix = "4", length = 16): string {
  let digits = prefix;
  while (digits.length < length - 1) digits += String(randomInt(10));
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits + String((10 - (sum % 10)) % 10);
}
