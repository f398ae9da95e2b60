import { createHmac } from "node:crypto";
import { hmacKey } from "../../runtime/hmacKey.js";
import { safeEqual } from "../../runtime/safeEqual.js";
import { PaymentError } from "../../payments/errors.js";

export const unauthenticated = (message: string) => new PaymentError("unauthenticated", message);

/** The query's key=value pairs, neither decoded nor re-encoded (Genstore signs them as sent). */
export function queryPairs(rawQuery: string): [string, string][] {
  return rawQuery
    .split("&")
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf("=");
      return i < 0 ? [p, ""] : [p.slice(0, i), p.slice(i + 1)];
    });
}

/**
 * Genstore's query signature: `hmac` is the hex HMAC-SHA256, under the client secret, of the
 * other parameters sorted by key and joined as key=value with "&". A signed query must carry a
 * `timestamp` (seconds or milliseconds) within `toleranceMs` of now, so that a captured URL
 * cannot be replayed later.
 */
export function verifyQuerySignature(pairs: readonly [string, string][], secret: string, now: number, toleranceMs = 300_000): void {
  const hmac = pairs.find(([k]) => k === "hmac")?.[1] ?? "";
  const message = pairs
    .filter(([k]) => k !== "hmac")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const expected = createHmac("sha256", hmacKey(secret)).update(message).digest();
  const given = /^[0-9a-fA-F]{64}$/.test(hmac) ? Buffer.from(hmac, "hex") : Buffer.alloc(0);
  if (!safeEqual(given, expected)) throw unauthenticated("the hmac parameter does not match the request");
  const timestamp = pairs.find(([k]) => k === "timestamp")?.[1];
  if (timestamp === undefined) throw unauthenticated("the signed query has no timestamp: Genstore signs shop, shopId and timestamp");
  const n = /^\d{1,16}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  const ms = n > 1e12 ? n : n * 1000;
  if (!Number.isFinite(n) || Math.abs(now - ms) > toleranceMs) {
    throw unauthenticated("the request's timestamp is more than 5 minutes away: it may be a replay");
  }
}

/** Whether `signature` (X-Genstore-Hmac-Sha256, hex or base64) is the body's HMAC-SHA256 under `secret`. */
export function bodySignatureMatches(rawBody: Buffer, signature: string, secret: string): boolean {
  const expected = createHmac("sha256", hmacKey(secret)).update(rawBody).digest();
  const v = signature.trim();
  const given = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, "hex") : Buffer.from(v, "base64");
  return safeEqual(given, expected);
}
