import { createHash } from "node:crypto";
import { safeEqual } from "../../runtime/safeEqual.js";
import { cookieName, cookiesOf, createSessionCookies, derivedKey } from "../auth/sessionCookies.js";

export const CONSOLE_COOKIE = "gsp_console";
export const CONSOLE_SESSION_MS = 8 * 3600_000;
export const LOGIN_COOKIE = "gsp_console_login";
export const csrfHeader = "x-csrf-token";

/**
 * Operators' console sessions: the operators' token (ADMIN_TOKEN) exchanged once for a signed
 * cookie. The signing key is derived from the secrets key and the token itself, so changing
 * ADMIN_TOKEN ends every session. API calls must also carry the session's CSRF token in a header.
 */
export function createConsoleSessions(secretsKey: Buffer, adminToken: string | undefined) {
  const tokenHash = createHash("sha256")
    .update(adminToken ?? "")
    .digest("hex");
  const cookies = createSessionCookies(derivedKey(secretsKey, `console sessions ${tokenHash}`));
  const session = (cookieHeader: string | string[] | undefined) =>
    adminToken ? cookies.read("console", cookiesOf(cookieHeader).get(cookieName(CONSOLE_COOKIE))) : undefined;
  return {
    cookies,
    enabled: Boolean(adminToken),
    /** Whether a token typed at the login form is the operators' token. */
    tokenMatches(given: string): boolean {
      if (!adminToken) return false;
      return safeEqual(Buffer.from(given), Buffer.from(adminToken));
    },
    session,
    /** A Connect call from the console: a valid session cookie and its CSRF token in the header. */
    admits(headers: Headers): boolean {
      const s = session(headers.get("cookie") ?? undefined);
      return s !== undefined && cookies.csrfValid(s.nonce, headers.get(csrfHeader));
    },
  };
}

export type ConsoleSessions = ReturnType<typeof createConsoleSessions>;
