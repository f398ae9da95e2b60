import { randomBytes } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";

/** The shop a request belongs to (design §2.8), resolved by the transport, read by the service. */
export const shopIdKey = createContextKey<string | undefined>(undefined, { description: "Genstore shop id" });

/** The request's id, for logs and each payment's timeline. */
export const requestIdKey = createContextKey<string>("", { description: "request id" });

/** Takes a caller's X-Request-Id when it is sane, else makes one. */
export function requestIdFrom(headers: Headers): string {
  const given = headers.get("x-request-id");
  if (given && /^[A-Za-z0-9._:-]{1,100}$/.test(given)) return given;
  return `req_${randomBytes(9).toString("base64url")}`;
}
