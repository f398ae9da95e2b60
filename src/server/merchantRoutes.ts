import type { Logger } from "../observability/logger.js";
import { OnboardingError, type Onboarding } from "../onboarding/onboarding.js";
import { PaymentError } from "../payments/errors.js";
import { shopPattern } from "../payments/shops.js";
import type { ConnectorModule } from "../psp/module.js";
import { queryPairs, verifyQuerySignature } from "./auth/genstoreSignature.js";
import { cookieHeader, cookieName, cookiesOf, type SessionCookies } from "./auth/sessionCookies.js";
import { HttpError, readBody, type NodeRequest, type NodeResponse } from "./httpJson.js";
import type { HttpRoute } from "./httpRoutes.js";
import { authorizationPage } from "./pages/authorizationPage.js";
import { redirect, sendHtml, sendMessage } from "./pages/html.js";

export interface MerchantRouteDeps {
  onboarding: Onboarding;
  modules: readonly ConnectorModule<never>[];
  cookies: SessionCookies;
  /** The deployment's GENSTORE_CLIENT_SECRET (a shop's own secret wins). */
  clientSecret: string | undefined;
  publicUrl: () => string;
  log: Logger;
  now?: () => number;
}

const STATE_TTL_MS = 10 * 60_000;
const SESSION_TTL_MS = 60 * 60_000;
const reopen = "Open the app again from your Genstore admin (Settings → Payments).";

/** A form post's fields; only url-encoded forms from our pages, at most 16 KiB. */
export async function readForm(req: NodeRequest): Promise<URLSearchParams> {
  if (!(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) throw new HttpError(415, "a form post is expected");
  return new URLSearchParams((await readBody(req, 16 * 1024)).toString("utf8"));
}

/** Genstore's signed query (App URL, OAuth redirect): the shop it names, once the hmac and timestamp are checked. */
async function signedShop(deps: MerchantRouteDeps, req: NodeRequest): Promise<{ shopId: string; shopDomain: string; query: URLSearchParams }> {
  if (!deps.onboarding.api) throw new HttpError(404, "Merchant onboarding is not configured on this service (GENSTORE_CLIENT_ID).");
  const raw = (req.url ?? "").split("?")[1] ?? "";
  const query = new URLSearchParams(raw);
  const shopId = query.get("shopId") ?? "";
  const shopDomain = (query.get("shop") ?? "").toLowerCase();
  if (!shopPattern.test(shopId)) throw new HttpError(400, "the link names no valid shopId");
  if (!deps.onboarding.api?.allowsDomain(shopDomain)) throw new HttpError(400, "the link names no Genstore shop domain");
  const secret = (await deps.onboarding.shop(shopId))?.genstoreClientSecret ?? deps.clientSecret;
  if (!secret) throw new HttpError(401, "no Genstore client secret is configured to check this link");
  try {
    verifyQuerySignature(queryPairs(raw), secret, (deps.now ?? Date.now)());
  } catch (err) {
    if (err instanceof PaymentError) throw new HttpError(401, `This link is not signed by Genstore, or it has expired (${err.message}).`);
    throw err;
  }
  return { shopId, shopDomain, query };
}

/** The merchant's session: the shop it was opened for, while that shop is installed. */
async function session(deps: MerchantRouteDeps, req: NodeRequest) {
  const s = deps.cookies.read("merchant", cookiesOf(req.headers.cookie).get(cookieName("gsp_merchant")));
  if (!s) throw new HttpError(401, `Your session has expired or this browser has none. ${reopen}`);
  const shop = await deps.onboarding.shop(s.subject);
  if (!shop?.genstoreAccessToken) throw new HttpError(401, `The app is not installed in this shop. ${reopen}`);
  return { shop, nonce: s.nonce };
}

function sessionCookie(deps: MerchantRouteDeps, shopId: string): string {
  return cookieHeader("gsp_merchant", deps.cookies.issue("merchant", shopId, SESSION_TTL_MS).value, SESSION_TTL_MS / 1000, "Lax");
}

/** A form must carry the session's CSRF token (and not come from another site). */
async function checkedForm(deps: MerchantRouteDeps, req: NodeRequest, nonce: string): Promise<URLSearchParams> {
  if (req.headers["sec-fetch-site"] === "cross-site") throw new HttpError(403, "This form was sent from another site and was refused.");
  const form = await readForm(req);
  if (!deps.cookies.csrfValid(nonce, form.get("csrf")))
    throw new HttpError(403, "This form has expired or was not sent from our page; reload the page and try again.");
  return form;
}

function refused(deps: MerchantRouteDeps, res: NodeResponse, err: unknown): void {
  if (err instanceof HttpError) return sendMessage(res, err.status, err.status === 401 ? "Please open the app from Genstore" : "Request refused", err.message);
  if (err instanceof OnboardingError) return sendMessage(res, 400, "The app could not be set up", err.message);
  throw err;
}

const wrap = (deps: MerchantRouteDeps, run: (req: NodeRequest, res: NodeResponse) => Promise<void>) => async (req: NodeRequest, res: NodeResponse) => {
  try {
    await run(req, res);
  } catch (err) {
    refused(deps, res, err);
  }
};

/**
 * The merchant's side of installing the app: the App URL Genstore opens (signed query), the OAuth
 * redirect, and the authorization page where the merchant connects a PSP. Sessions are signed
 * cookies bound to the shop that Genstore's signature named; every form carries a CSRF token.
 */
export function merchantRoutes(deps: MerchantRouteDeps): HttpRoute[] {
  const redirectUri = () => `${deps.publicUrl()}/app/oauth/callback`;
  const { onboarding, cookies } = deps;
  return [
    {
      label: "GET /app",
      methods: ["GET"],
      pattern: /^\/app$/,
      handle: wrap(deps, async (req, res) => {
        const { shopId, shopDomain } = await signedShop(deps, req);
        if ((await onboarding.shop(shopId))?.genstoreAccessToken) return redirect(res, "/app/settings", { "set-cookie": sessionCookie(deps, shopId) });
        const state = cookies.issue("oauth-state", `${shopId} ${shopDomain}`, STATE_TTL_MS);
        redirect(res, onboarding.api!.authorizeUrl(shopDomain, redirectUri(), state.nonce), {
          "set-cookie": cookieHeader("gsp_state", state.value, STATE_TTL_MS / 1000, "Lax"),
        });
      }),
    },
    {
      label: "GET /app/oauth/callback",
      methods: ["GET"],
      pattern: /^\/app\/oauth\/callback$/,
      handle: wrap(deps, async (req, res) => {
        const { shopId, shopDomain, query } = await signedShop(deps, req);
        const state = cookies.read("oauth-state", cookiesOf(req.headers.cookie).get(cookieName("gsp_state")));
        if (!state || state.subject !== `${shopId} ${shopDomain}` || state.nonce !== query.get("state"))
          throw new HttpError(403, `This sign-in was not started from this browser, or it has expired. ${reopen}`);
        const code = query.get("code") ?? "";
        if (!/^[\w.~+/=-]{1,2000}$/.test(code)) throw new HttpError(400, "the redirect carries no authorization code");
        await onboarding.install(shopId, shopDomain, code, redirectUri());
        redirect(res, "/app/settings", { "set-cookie": [cookieHeader("gsp_state", "", 0, "Lax"), sessionCookie(deps, shopId)] });
      }),
    },
    {
      // One row for both methods: the route table matches a path once.
      label: "GET|POST /app/settings",
      methods: ["GET", "POST"],
      pattern: /^\/app\/settings$/,
      handle: wrap(deps, async (req, res) => {
        const { shop, nonce } = await session(deps, req);
        if (req.method === "GET") return sendHtml(res, 200, authorizationPage({ shop, modules: deps.modules, csrf: cookies.csrfToken(nonce) }));
        const form = await checkedForm(deps, req, nonce);
        const psp = form.get("psp") ?? "";
        const module = deps.modules.find((m) => m.name === psp);
        const entered = (mode: "test" | "live") =>
          Object.fromEntries((module?.credentialFields ?? []).map((f) => [f.name, form.get(`cred.${psp}.${mode}.${f.name}`) ?? ""]));
        const result = await onboarding.authorize(shop.shopId, psp, { test: entered("test"), live: entered("live") });
        const after = (await onboarding.shop(shop.shopId)) ?? shop;
        sendHtml(
          res,
          result.problems.length ? 400 : 200,
          authorizationPage({ shop: after, modules: deps.modules, csrf: cookies.csrfToken(nonce), chosen: psp, ...result }),
        );
      }),
    },
    {
      label: "POST /app/settings/activate",
      methods: ["POST"],
      pattern: /^\/app\/settings\/activate$/,
      handle: wrap(deps, async (req, res) => {
        const { shop, nonce } = await session(deps, req);
        await checkedForm(deps, req, nonce);
        const result = await onboarding.activate(shop.shopId);
        const after = (await onboarding.shop(shop.shopId)) ?? shop;
        sendHtml(res, 200, authorizationPage({ shop: after, modules: deps.modules, csrf: cookies.csrfToken(nonce), ...result }));
      }),
    },
  ];
}
