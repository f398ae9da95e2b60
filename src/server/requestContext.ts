import { createContextKey } from "@connectrpc/connect";
import type { ShopConfig } from "../payments/shops.js";
import { randomId } from "../runtime/randomIds.js";
import type { Principal } from "./auth/requestGate.js";

/** What the request gate established about a PaymentService request, on every protocol. */
export interface RequestContext {
  requestId: string;
  /** The shop, from what was authenticated, loaded once for the whole request. */
  shop: ShopConfig;
  principal: Principal;
}

export const requestContextKey = createContextKey<RequestContext | undefined>(undefined, { description: "authenticated request context" });

/** The request's id, for logs and each payment's timeline. */
export const requestIdKey = createContextKey<string>("", { description: "request id" });

/** Takes a caller's X-Request-Id (the header's value) when it is sane, else makes one. */
export function requestIdFrom(given: string | string[] | null | undefined): string {
  if (typeof given === "string" && /^[A-Za-z0-9._:-]{1,100}$/.test(given)) return given;
  return `req_${randomId(9)}`;
}
