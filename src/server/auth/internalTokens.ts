import { createHash } from "node:crypto";

/** What an internal service's bearer token allows: which shops, and whether it may move money. */
export interface InternalToken {
  /** Shown in logs, never the token. */
  name: string;
  /** SHA-256 (hex) of the token: the token itself is not kept in memory after start-up. */
  tokenSha256: string;
  /** Shop ids it may act for, or "*" for every shop. */
  shops: readonly string[] | "*";
  /** read: Get payment and Get refund only; write: every PaymentService method. */
  access: "read" | "write";
}

export const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");

/**
 * Reads INTERNAL_TOKENS (JSON): [{"name","token","shops":[…] or "*","access":"read"|"write"}].
 * Returns a problem description instead of throwing, so config.ts can name the setting.
 */
export function parseInternalTokens(raw: string, shopPattern: RegExp): InternalToken[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return "must be a JSON array of {name, token, shops, access}";
  }
  if (!Array.isArray(parsed)) return "must be a JSON array of {name, token, shops, access}";
  const names = new Set<string>();
  const tokens: InternalToken[] = [];
  for (const [i, entry] of parsed.entries()) {
    const e = entry as Record<string, unknown>;
    const where = `entry ${i}`;
    if (typeof e !== "object" || e === null) return `${where} must be an object`;
    if (typeof e.name !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(e.name)) return `${where}: name must be 1-64 letters, digits, ".", "_" or "-"`;
    if (names.has(e.name)) return `${where}: name ${e.name} is used twice`;
    names.add(e.name);
    if (typeof e.token !== "string" || e.token.length < 32 || /\s/.test(e.token)) return `${e.name}: token must be at least 32 characters without spaces`;
    const shops =
      e.shops === "*"
        ? "*"
        : Array.isArray(e.shops) && e.shops.length > 0 && e.shops.every((s) => typeof s === "string" && shopPattern.test(s))
          ? (e.shops as string[])
          : undefined;
    if (!shops) return `${e.name}: shops must be "*" or a non-empty list of shop ids`;
    if (e.access !== "read" && e.access !== "write") return `${e.name}: access must be "read" or "write"`;
    tokens.push({ name: e.name, tokenSha256: hashToken(e.token), shops, access: e.access });
  }
  if (new Set(tokens.map((t) => t.tokenSha256)).size !== tokens.length) return "two entries share a token";
  return tokens;
}
