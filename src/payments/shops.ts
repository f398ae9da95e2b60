import { createBoundedMap } from "../runtime/boundedMap.js";
import { PaymentError } from "./errors.js";

/** What a shop id may look like, wherever it comes from (request, setting, operator). */
export const shopPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** A Genstore shop this deployment serves, with its secrets in the clear (memory only). */
export interface ShopConfig {
  shopId: string;
  psp: string;
  testCredentials: Record<string, string>;
  liveCredentials: Record<string, string>;
  genstoreAccessToken: string | undefined;
  /** Verifies this shop's requests; the deployment's secret when unset. */
  genstoreClientSecret?: string | undefined;
  /** Base URL of the shop's Genstore API for the Update * result callbacks. */
  callbackBaseUrl: string;
  /** decisions.md D4: true reads manualCapture=true as "authorize only". */
  manualCaptureMeansAuthorizeOnly: boolean;
  /** Hosts buyers may be sent back to ("shop.example", "*.shop.example"); empty: any https host. */
  redirectHosts?: string[];
  /** Ask the PSP to e-mail the buyer a receipt (to the address Genstore sent). */
  sendReceiptEmail?: boolean;
  /** The shop's Genstore domain, from the install (OAuth) flow. */
  shopDomain?: string | undefined;
  /** Set while the shop is uninstalled or deactivated: its requests are refused. */
  deactivatedAt?: Date | undefined;
  /** When Genstore acknowledged the merchant's account authorization (the extension is Activated). */
  accountAuthorizedAt?: Date | undefined;
  createdAt: Date;
  updatedAt: Date;
}

export type ShopPatch = Partial<Omit<ShopConfig, "shopId" | "createdAt" | "updatedAt">>;

/** Where shops are stored; src/store implements it with secrets encrypted at rest. */
export interface ShopRepository {
  /** false when the id is taken. */
  create(shop: ShopConfig): Promise<boolean>;
  update(shopId: string, patch: ShopPatch, at: Date): Promise<ShopConfig | null>;
  get(shopId: string): Promise<ShopConfig | null>;
  /** Shops with ids after `after`, in id order. */
  list(after: string, limit: number): Promise<ShopConfig[]>;
  /** Removes the shop's settings; false when there was none. */
  delete(shopId: string): Promise<boolean>;
}

/** The default callback base of a shop: https://{shop}.genmystore.com (decisions.md D7). */
export function defaultCallbackBase(shopId: string): string {
  return `https://${shopId}.genmystore.com`;
}

export interface ShopDirectory {
  /** The shop's configuration; a 403 when this deployment does not serve the shop. */
  get(shopId: string): Promise<ShopConfig>;
  /** The shop's configuration, or undefined when this deployment does not serve it. */
  find(shopId: string): Promise<ShopConfig | undefined>;
  /** Drops cached configuration after an operator changed it. */
  forget(shopId: string): void;
}

const CACHE_MS = 5000;

/**
 * Shops from the repository, cached briefly; the deployment's default shop comes from the
 * environment unless an operator stored one under its id. Only shops that exist are cached,
 * in a bounded map: ids that name no shop cost a lookup each and no memory.
 */
export function createShopDirectory(repository: ShopRepository, defaultShop: ShopConfig | undefined, now: () => number = Date.now): ShopDirectory {
  const cache = createBoundedMap<string, ShopConfig>({ maxEntries: 10_000, ttlMs: CACHE_MS, now });
  async function find(shopId: string): Promise<ShopConfig | undefined> {
    const hit = cache.get(shopId);
    if (hit) return hit;
    const stored = await repository.get(shopId);
    // A deactivated (uninstalled) shop is served by nobody, not even as the default shop.
    if (stored?.deactivatedAt) return undefined;
    const shop = stored ?? (defaultShop && shopId === defaultShop.shopId ? defaultShop : null);
    if (!shop) return undefined;
    cache.set(shopId, shop);
    return shop;
  }
  return {
    find,
    async get(shopId) {
      const shop = await find(shopId);
      if (!shop)
        throw new PaymentError("permission_denied", `shop ${shopId} is not set up in this payment app: an operator must add it with ShopService.CreateShop`);
      return shop;
    },
    forget: (shopId) => cache.delete(shopId),
  };
}
