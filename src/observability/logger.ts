import { pino } from "pino";
import { luhnValid } from "../crypto/cardData.js";

/** One structured log entry per call: level, msg and fields (card data is redacted on the way out). */
export type Logger = (entry: Record<string, unknown>) => void;

/** Fields whose values never reach a log line, at any depth (decisions.md D14). */
const redactedFields = new Set(
  [
    "number",
    "cardNumber",
    "pan",
    "cvv",
    "cvc",
    "securityCode",
    "expiryMonth",
    "expiryYear",
    "expMonth",
    "expYear",
    "cipherText",
    "card",
    "paymentMethod",
    "authorization",
    "x-genstore-access-token",
    "genstoreAccessToken",
    "accessToken",
    "credentials",
    "testCredentials",
    "liveCredentials",
    "secretKey",
    "apiKey",
    "password",
    "privateKey",
  ].map((f) => f.toLowerCase()),
);

const digitRun = /\d[\d -]*\d/g;

/**
 * Whether a run of digit groups (split at spaces and dashes) holds a card number: 13-19 digits
 * passing Luhn, made of whole consecutive groups, so that digits written before or after it
 * ("10 4242 4242 4242 4242", "4242 4242 4242 4242 123") do not hide it. A run without separators
 * is judged whole: a long id (Genstore's are 19 digits) is not searched for card-like windows.
 */
function holdsPan(run: string): boolean {
  const groups = run.split(/[ -]+/);
  for (let i = 0; i < groups.length; i++) {
    let digits = "";
    for (let j = i; j < groups.length && digits.length < 19; j++) {
      digits += groups[j];
      if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) return true;
    }
  }
  return false;
}

/** Masks anything in free text that looks like a card number (13-19 digits passing Luhn). */
export function maskPans(text: string): string {
  return text.replace(digitRun, (run) => (run.length >= 13 && holdsPan(run) ? "[card number]" : run));
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

/** pino, one JSON object per line, with card and secret fields redacted by name at any depth. */
export function createJsonLogger(
  stream: NodeJS.WritableStream = process.stdout,
  minLevel: "debug" | "info" | "warn" | "error" = "info",
  /** Fields on every line (the instance's id). */
  base?: Record<string, string>,
): Logger {
  const logger = pino(
    {
      level: minLevel,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redact(obj) as Record<string, unknown>,
      },
    },
    stream as pino.DestinationStream,
  );
  return (entry) => {
    const { level, msg, ...rest } = entry;
    const at = level === "debug" || level === "warn" || level === "error" ? level : "info";
    logger[at](rest, typeof msg === "string" ? maskPans(msg) : undefined);
  };
}
