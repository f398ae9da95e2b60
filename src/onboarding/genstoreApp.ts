import type { OnboardingSettings } from "../onboardingConfig.js";

/**
 * Everything about Genstore's install protocol that Genstore's documentation leaves unsaid, in one
 * place (each is an assumption listed in the README): the authorize page, the token request's
 * fields, the account-authorization and uninstall calls, and the webhook topics. A correction
 * from Genstore changes this file only.
 */
export const API_VERSION = "202412";

/** Webhook topics we subscribe to, as X-Genstore-Topic names them. */
export const topics = {
  uninstalled: "app/uninstalled",
  codeGranted: "app/authorizationCodeGranted",
  customersDataRequest: "customers/data_request",
  customersRedact: "customers/redact",
  shopRedact: "shop/redact",
} as const;

export const webhookHeaders = {
  topic: "x-genstore-topic",
  hmac: "x-genstore-hmac-sha256",
  shopDomain: "x-genstore-shop-domain",
  shopId: "x-genstore-shop-id",
  id: "x-genstore-webhook-id",
};

/** Where we talk to Genstore for one shop. */
export interface GenstoreShopApi {
  /** The page we send the merchant to for consent. */
  authorizeUrl(shopDomain: string, redirectUri: string, state: string): string;
  /** Exchanges an authorization code for the shop's offline access token. */
  exchangeCode(shopDomain: string, code: string, redirectUri: string): Promise<{ accessToken: string; scope: string }>;
  /** PUT account_authorize: the merchant's account is set up; Genstore marks the extension Activated. */
  accountAuthorized(baseUrl: string, accessToken: string): Promise<void>;
  /** DELETE oauth2/uninstall: we remove the app from the shop ourselves. */
  uninstall(baseUrl: string, accessToken: string): Promise<void>;
  /** The shop's base URL (its API and OAuth host). */
  baseUrl(shopDomain: string): string;
  /** Whether a shop domain is one of Genstore's (GENSTORE_SHOP_DOMAINS). */
  allowsDomain(shopDomain: string): boolean;
}

/** A call to Genstore that failed; the message names the status, never a token or secret. */
export class GenstoreCallError extends Error {
  override name = "GenstoreCallError";
}

const hostPattern = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function domainMatches(pattern: string, domain: string): boolean {
  return pattern.startsWith("*.") ? domain.endsWith(pattern.slice(1)) && domain.length > pattern.length - 1 : domain === pattern;
}

async function call(url: string, init: RequestInit, what: string, timeoutMs: number): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: "error", signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new GenstoreCallError(`${what}: Genstore could not be reached (${(err as Error).name})`);
  }
  const text = await res.text().catch(() => "");
  if (!res.ok) throw new GenstoreCallError(`${what}: Genstore answered HTTP ${res.status}`);
  try {
    return text ? (JSON.parse(text) as unknown) : {};
  } catch {
    throw new GenstoreCallError(`${what}: Genstore's answer is not JSON`);
  }
}

export function createGenstoreShopApi(settings: OnboardingSettings, clientSecret: string, timeoutMs = 10_000): GenstoreShopApi {
  const baseUrl = (shopDomain: string) => settings.shopUrlTemplate.replace("{shop}", encodeURIComponent(shopDomain));
  return {
    baseUrl,
    allowsDomain: (d) => hostPattern.test(d) && settings.shopDomains.some((p) => domainMatches(p, d)),
    authorizeUrl(shopDomain, redirectUri, state) {
      // Assumed: Genstore's consent page, with the token request's camelCase names.
      const q = new URLSearchParams({ clientId: settings.clientId, scope: settings.scopes.join(","), redirectUri, state, responseType: "code" });
      return `${baseUrl(shopDomain)}/oauth2/authorize?${q.toString()}`;
    },
    async exchangeCode(shopDomain, code, redirectUri) {
      const body = { clientId: settings.clientId, clientSecret, grantType: "authorization_code", code, redirectUri };
      const answer = (await call(
        `${baseUrl(shopDomain)}/oauth2/token`,
        { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
        "token exchange",
        timeoutMs,
      )) as { accessToken?: unknown; scope?: unknown };
      if (typeof answer.accessToken !== "string" || !answer.accessToken) throw new GenstoreCallError("token exchange: Genstore's answer has no accessToken");
      return { accessToken: answer.accessToken, scope: typeof answer.scope === "string" ? answer.scope : "" };
    },
    async accountAuthorized(base, accessToken) {
      await call(
        `${base}/api/${API_VERSION}/app/account_authorize`,
        { method: "PUT", headers: { "content-type": "application/json", "x-genstore-access-token": accessToken }, body: JSON.stringify({ status: true }) },
        "account authorization",
        timeoutMs,
      );
    },
    async uninstall(base, accessToken) {
      await call(
        `${base}/api/${API_VERSION}/oauth2/uninstall`,
        { method: "DELETE", headers: { "x-genstore-access-token": accessToken } },
        "uninstall",
        timeoutMs,
      );
    },
  };
}
