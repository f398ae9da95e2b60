import { createHmac, timingSafeEqual } from "node:crypto";
import { PaymentError } from "../payments/errors.js";

const unauthenticated = (message: string) => new PaymentError("unauthenticated", message);

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface VerifyInput {
  /** The query string as received, without the "?" and without any decoding. */
  rawQuery: string;
  rawBody: Buffer;
  headers: Headers;
  /** The Genstore client secret of the shop (or of the deployment); undefined when none is set. */
  secret: string | undefined;
  /** Refuse unsigned requests (the deployment's enforcement flag). */
  required: boolean;
  now: number;
  toleranceMs?: number;
}

/**
 * Genstore's request signature (genstore-protocol.md §5): the `hmac` query parameter is the hex
 * HMAC-SHA256, under the client secret, of the other parameters sorted by key and joined as
 * key=value with "&", neither decoded nor re-encoded; an X-Genstore-Hmac-Sha256 header, when
 * present, signs the raw body (hex or base64). A `timestamp` more than 5 minutes away is refused.
 * Throws an unauthenticated PaymentError; returns whether a signature was checked.
 */
export function verifyGenstoreRequest(input: VerifyInput): boolean {
  const pairs = input.rawQuery
    ? input.rawQuery.split("&").filter(Boolean).map((p) => {
        const i = p.indexOf("=");
        return i < 0 ? [p, ""] as const : [p.slice(0, i), p.slice(i + 1)] as const;
      })
    : [];
  const hmac = pairs.find(([k]) => k === "hmac")?.[1];
  const bodySignature = input.headers.get("x-genstore-hmac-sha256");
  if (hmac === undefined && bodySignature === null) {
    if (input.required) throw unauthenticated("this request is not signed: Genstore's hmac parameter or X-Genstore-Hmac-Sha256 header is required");
    return false;
  }
  if (input.secret === undefined) throw unauthenticated("this request is signed but no Genstore client secret is configured to check it");
  if (hmac !== undefined) {
    const message = pairs
      .filter(([k]) => k !== "hmac")
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const expected = createHmac("sha256", input.secret).update(message).digest();
    const given = /^[0-9a-fA-F]{64}$/.test(hmac) ? Buffer.from(hmac, "hex") : Buffer.alloc(0);
    if (!safeEqual(given, expected)) throw unauthenticated("the hmac parameter does not match the request");
    const timestamp = pairs.find(([k]) => k === "timestamp")?.[1];
    if (timestamp !== undefined) {
      const n = Number(timestamp);
      const ms = n > 1e12 ? n : n * 1000;
      if (!Number.isFinite(n) || Math.abs(input.now - ms) > (input.toleranceMs ?? 300_000)) {
        throw unauthenticated("the request's timestamp is more than 5 minutes away: it may be a replay");
      }
    }
  }
  if (bodySignature !== null) {
    const expected = createHmac("sha256", input.secret).update(input.rawBody).digest();
    const v = bodySignature.trim();
    const given = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, "hex") : Buffer.from(v, "base64");
    if (!safeEqual(given, expected)) throw unauthenticated("the X-Genstore-Hmac-Sha256 header does not match the body");
  }
  return true;
}
