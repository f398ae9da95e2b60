import { createHmac, hkdfSync } from "node:crypto";
import { safeEqual } from "../../runtime/safeEqual.js";
import { hmacKey } from "../../runtime/hmacKey.js";

/**
 * The link a PSP sends the buyer back to: /return/{shopId}/{paymentId}?t={token}, the token an
 * HMAC of the shop and payment under a key of ours. Without it a hit changes nothing, so nobody
 * but the buyer (who got the link through the PSP) can make us look at a payment.
 */
export interface ReturnLinks {
  url(shopId: string, paymentId: string, cancelled?: boolean): string;
  valid(shopId: string, paymentId: string, token: string): boolean;
}

/** The links' key, derived from the secrets key (no extra setting to manage). */
export function returnLinkKey(secretsKey: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", secretsKey, Buffer.alloc(0), Buffer.from("genstore-payment-app return links"), 32));
}

export function createReturnLinks(key: Buffer, publicUrl: () => string): ReturnLinks {
  const secret = hmacKey(key);
  const token = (shopId: string, paymentId: string) => createHmac("sha256", secret).update(`${shopId}\u0000${paymentId}`).digest().subarray(0, 24);
  return {
    url(shopId, paymentId, cancelled = false) {
      const t = token(shopId, paymentId).toString("base64url");
      return `${publicUrl()}/return/${encodeURIComponent(shopId)}/${encodeURIComponent(paymentId)}?t=${t}${cancelled ? "&cancelled=1" : ""}`;
    },
    valid(shopId, paymentId, given) {
      const expected = token(shopId, paymentId);
      const got = /^[A-Za-z0-9_-]{32}$/.test(given) ? Buffer.from(given, "base64url") : Buffer.alloc(0);
      return safeEqual(got, expected);
    },
  };
}
