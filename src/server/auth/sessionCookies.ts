import { createHmac, hkdfSync, randomBytes } from "node:crypto";
import { safeEqual } from "../../runtime/safeEqual.js";
import { hmacKey } from "../../runtime/hmacKey.js";

/**
 * Signed, short-lived session cookies (no server-side store): the value names what it is for
 * (kind), whom (subject: a shop id, or "operator"), a random nonce and an expiry, under an HMAC
 * with a key of ours. The nonce also derives the session's CSRF token, so a form or a Connect
 * call proves it was made by a page we served to that session.
 */
export interface SessionCookies {
  issue(kind: string, subject: string, ttlMs: number): { value: string; nonce: string };
  read(kind: string, value: string | undefined): { subject: string; nonce: string } | undefined;
  csrfToken(nonce: string): string;
  csrfValid(nonce: string, given: string | null | undefined): boolean;
}

/** A key for one use, derived from the secrets key (no extra setting to manage). */
export function derivedKey(secretsKey: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secretsKey, Buffer.alloc(0), Buffer.from(`genstore-payment-app ${label}`), 32));
}

export function createSessionCookies(key: Buffer, now: () => number = Date.now): SessionCookies {
  const secret = hmacKey(key);
  const mac = (text: string) => createHmac("sha256", secret).update(text).digest();
  return {
    issue(kind, subject, ttlMs) {
      const nonce = randomBytes(18).toString("base64url");
      const payload = Buffer.from(JSON.stringify({ k: kind, s: subject, n: nonce, e: now() + ttlMs })).toString("base64url");
      return { value: `${payload}.${mac(payload).toString("base64url")}`, nonce };
    },
    read(kind, value) {
      const m = /^([A-Za-z0-9_-]{1,2000})\.([A-Za-z0-9_-]{43})$/.exec(value ?? "");
      if (!m?.[1] || !m[2] || !safeEqual(Buffer.from(m[2], "base64url"), mac(m[1]))) return undefined;
      const p = JSON.parse(Buffer.from(m[1], "base64url").toString("utf8")) as { k?: unknown; s?: unknown; n?: unknown; e?: unknown };
      if (p.k !== kind || typeof p.s !== "string" || typeof p.n !== "string" || typeof p.e !== "number" || p.e < now()) return undefined;
      return { subject: p.s, nonce: p.n };
    },
    csrfToken: (nonce) => mac(`csrf\u0000${nonce}`).toString("base64url"),
    csrfValid(nonce, given) {
      if (!given || !/^[A-Za-z0-9_-]{43}$/.test(given)) return false;
      return safeEqual(Buffer.from(given, "base64url"), mac(`csrf\u0000${nonce}`));
    },
  };
}

/** The request's cookies by name (the first of each name wins). */
export function cookiesOf(header: string | string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (Array.isArray(header) ? header.join(";") : (header ?? "")).split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    if (name && !out.has(name)) out.set(name, part.slice(i + 1).trim());
  }
  return out;
}

/**
 * A Set-Cookie value: __Host- prefixed, so always Secure, Path=/ and bound to our host; HttpOnly.
 * Chromium keeps Secure cookies from http://127.0.0.1 and http://localhost (secure contexts), so
 * tests over plain HTTP on loopback work while production needs https.
 */
export function cookieHeader(name: string, value: string, maxAgeSeconds: number, sameSite: "Strict" | "Lax"): string {
  return `__Host-${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; Secure; HttpOnly; SameSite=${sameSite}`;
}

export const cookieName = (name: string) => `__Host-${name}`;
