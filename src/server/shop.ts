import { invalidArgument } from "../payments/errors.js";
import { shopPattern } from "../payments/shops.js";

/**
 * `shopId` / `shop` query parameters (covered by Genstore's hmac), then the X-Genstore-Shop-Id
 * and X-Genstore-Shop-Domain headers, then the deployment's default shop.
 */
export function resolveShopId(query: URLSearchParams | undefined, headers: Headers, defaultShopId: string): string {
  const candidates: [string, string | null | undefined][] = [
    ["shopId", query?.get("shopId")],
    ["shop", query?.get("shop")],
    ["X-Genstore-Shop-Id", headers.get("x-genstore-shop-id")],
    ["X-Genstore-Shop-Domain", headers.get("x-genstore-shop-domain")],
  ];
  for (const [where, value] of candidates) {
    if (value === null || value === undefined || value === "") continue;
    if (!shopPattern.test(value)) throw invalidArgument(`${where} must be 1-100 letters, digits, ".", "_" or "-"`);
    return value;
  }
  return defaultShopId;
}
