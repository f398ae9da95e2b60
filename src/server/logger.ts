import { luhnValid } from "../crypto/cardData.js";
import type { Logger } from "./paymentServiceImpl.js";

/** Fields whose values never reach a log line, at any depth (design §7). */
const redactedFields = new Set(
  [
    "number", "cardNumber", "pan", "cvv", "cvc", "securityCode", "expiryMonth", "expiryYear", "expMonth", "expYear",
    "cipherText", "card", "paymentMethod", "authorization", "x-genstore-access-token", "genstoreAccessToken",
    "accessToken", "credentials", "testCredentials", "liveCredentials", "secretKey", "apiKey", "password", "privateKey",
  ].map((f) => f.toLowerCase()),
);

const digitRun = /\d[\d -]{11,22}\d/g;

/** Masks anything in free text that looks like a card number (13-19 digits passing Luhn). */
export function maskPans(text: string): string {
  return text.replace(digitRun, (run) => {
    const digits = run.replace(/[ -]/g, "");
    return digits.length >= 13 && digits.length <= 19 && luhnValid(digits) ? "[card number]" : run;
  });
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return maskPans(value);
  if (depth > 8 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactedFields.has(k.toLowerCase()) ? "[redacted]" : redact(v, depth + 1);
  return out;
}

/** One JSON object per line on stdout, with card and secret fields redacted by name. */
export function createJsonLogger(stream: NodeJS.WritableStream = process.stdout, minLevel: "debug" | "info" | "warn" | "error" = "info"): Logger {
  const order = { debug: 10, info: 20, warn: 30, error: 40 } as const;
  return (entry) => {
    const level = (entry.level as keyof typeof order | undefined) ?? "info";
    if (order[level] < order[minLevel]) return;
    stream.write(JSON.stringify({ time: new Date().toISOString(), ...(redact(entry) as object), level }) + "\n");
  };
}
