import { createHash } from "node:crypto";
import type { Logger } from "../observability/logger.js";
import type { ShopConfig, ShopDirectory, ShopRepository } from "../payments/shops.js";
import type { ConnectorModule } from "../psp/module.js";
import type { WebhookEventRepository } from "../store/webhookEventRepository.js";
import { GenstoreCallError, type GenstoreShopApi } from "./genstoreApp.js";

type Mode = "test" | "live";
type Credentials = Record<string, string>;

/** A step of onboarding refused; the message is for the merchant (no secret in it). */
export class OnboardingError extends Error {
  override name = "OnboardingError";
}

export interface OnboardingDeps {
  shops: ShopRepository;
  directory: ShopDirectory;
  /** Genstore's install protocol; undefined when onboarding is off (no GENSTORE_CLIENT_ID). */
  api: GenstoreShopApi | undefined;
  modules: readonly ConnectorModule<never>[];
  connectorSettings: Record<string, unknown>;
  seen: Pick<WebhookEventRepository, "use">;
  log: Logger;
  now?: () => Date;
}

export interface AuthorizeResult {
  /** What the merchant must fix; nothing was saved when there is any. */
  problems: string[];
  /** Genstore acknowledged account_authorize: the extension is Activated. */
  activated: boolean;
  /** Saved, but Genstore's acknowledgement failed (the merchant may retry). */
  activationError?: string;
}

/** The merchant's entries for one mode: empty values keep what is stored when the PSP stays the same. */
function merged(module: ConnectorModule<never>, entered: Credentials, current: Credentials, samePsp: boolean): Credentials {
  const out: Credentials = {};
  for (const f of module.credentialFields) {
    const v = (entered[f.name] ?? "").trim();
    if (v) out[f.name] = v;
    else if (samePsp && current[f.name]) out[f.name] = current[f.name]!;
  }
  return out;
}

/** The install: the code exchanged for the shop's token (once), the shop stored, deactivated until authorized. */
async function installApp(
  deps: OnboardingDeps,
  api: GenstoreShopApi,
  shopId: string,
  shopDomain: string,
  code: string,
  redirectUri: string,
): Promise<ShopConfig> {
  // A code is good once: a replay is refused before Genstore (or anything) is called.
  const codeId = `genstore-oauth-code:${createHash("sha256").update(code).digest("base64url")}`;
  if (!(await deps.seen.use(codeId, shopId))) throw new OnboardingError("this authorization code was already used: open the app from Genstore again");
  let token: { accessToken: string; scope: string };
  try {
    token = await api.exchangeCode(shopDomain, code, redirectUri);
  } catch (err) {
    if (err instanceof GenstoreCallError) throw new OnboardingError(`Genstore did not give us access (${err.message}): open the app from Genstore again`);
    throw err;
  }
  const at = (deps.now ?? (() => new Date()))();
  const base = { genstoreAccessToken: token.accessToken, shopDomain, callbackBaseUrl: api.baseUrl(shopDomain) };
  const existing = await deps.shops.get(shopId);
  let shop: ShopConfig | null;
  if (existing) shop = await deps.shops.update(shopId, base, at);
  else {
    shop = {
      shopId,
      psp: deps.modules[0]!.name,
      testCredentials: {},
      liveCredentials: {},
      manualCaptureMeansAuthorizeOnly: true,
      redirectHosts: [],
      ...base,
      deactivatedAt: at,
      createdAt: at,
      updatedAt: at,
    };
    if (!(await deps.shops.create(shop))) shop = await deps.shops.update(shopId, base, at);
  }
  deps.directory.forget(shopId);
  deps.log({ level: "info", msg: "app installed", shopId, shopDomain, scope: token.scope });
  if (!shop) throw new OnboardingError("the shop disappeared during the install: open the app from Genstore again");
  return shop;
}

/** The merchant's PSP and credentials: format, then the PSP itself; saved only when all pass. */
async function authorizeAccount(
  deps: OnboardingDeps,
  activate: (shopId: string) => Promise<AuthorizeResult>,
  shopId: string,
  psp: string,
  entered: Record<Mode, Credentials>,
): Promise<AuthorizeResult> {
  const module = deps.modules.find((m) => m.name === psp);
  if (!module) return { problems: ["choose a payment provider from the list"], activated: false };
  const current = await deps.shops.get(shopId);
  if (!current?.genstoreAccessToken) throw new OnboardingError("the app is not installed in this shop: open it from Genstore again");
  const samePsp = current.psp === psp;
  const creds = {
    test: merged(module, entered.test, current.testCredentials, samePsp),
    live: merged(module, entered.live, current.liveCredentials, samePsp),
  };
  const problems = [...module.credentialProblems("test", creds.test), ...module.credentialProblems("live", creds.live)];
  const needsSome = module.credentialFields.some((f) => f.required);
  if (needsSome && !Object.keys(creds.test).length && !Object.keys(creds.live).length) problems.push("enter the test or the live credentials (or both)");
  if (!problems.length) {
    const settings = deps.connectorSettings[psp] as never;
    for (const mode of ["test", "live"] as const)
      if (Object.keys(creds[mode]).length) problems.push(...(await module.verifyCredentials(settings, mode, creds[mode])));
  }
  if (problems.length) {
    deps.log({ level: "info", msg: "account authorization refused", shopId, psp, problems: problems.length });
    return { problems, activated: false };
  }
  await deps.shops.update(shopId, { psp, testCredentials: creds.test, liveCredentials: creds.live }, (deps.now ?? (() => new Date()))());
  deps.directory.forget(shopId);
  deps.log({
    level: "info",
    msg: "shop credentials saved by the merchant",
    shopId,
    psp,
    modes: (["test", "live"] as const).filter((m) => Object.keys(creds[m]).length),
  });
  return activate(shopId);
}

/**
 * Merchant onboarding: the install (OAuth code for a token), the merchant's account authorization
 * (PSP credentials checked with the PSP, then Genstore's account_authorize), and the shop's end
 * (uninstall, redaction). A shop that is installed but not authorized, or uninstalled, is kept
 * deactivated: the request gate refuses its requests.
 */
export function createOnboarding(deps: OnboardingDeps) {
  const now = deps.now ?? (() => new Date());
  const changed = (shopId: string) => deps.directory.forget(shopId);
  const api = (): GenstoreShopApi => {
    if (!deps.api) throw new OnboardingError("merchant onboarding is not configured on this service (GENSTORE_CLIENT_ID)");
    return deps.api;
  };

  const install = (shopId: string, shopDomain: string, code: string, redirectUri: string) => installApp(deps, api(), shopId, shopDomain, code, redirectUri);

  async function activate(shopId: string): Promise<AuthorizeResult> {
    const shop = await deps.shops.get(shopId);
    if (!shop?.genstoreAccessToken) throw new OnboardingError("the app is not installed in this shop: open it from Genstore again");
    try {
      await api().accountAuthorized(shop.callbackBaseUrl, shop.genstoreAccessToken);
    } catch (err) {
      if (!(err instanceof GenstoreCallError)) throw err;
      deps.log({ level: "warn", msg: "account_authorize failed", shopId, error: err.message });
      return {
        problems: [],
        activated: false,
        activationError: `Your settings are saved, but Genstore did not confirm the activation (${err.message}). Try again.`,
      };
    }
    await deps.shops.update(shopId, { accountAuthorizedAt: now(), deactivatedAt: undefined }, now());
    changed(shopId);
    deps.log({ level: "info", msg: "account authorized: extension activated", shopId });
    return { problems: [], activated: true };
  }

  const authorize = (shopId: string, psp: string, entered: Record<Mode, Credentials>) => authorizeAccount(deps, activate, shopId, psp, entered);

  /** Token and credentials wiped, requests refused; the shop's payments stay. */
  async function deactivate(shopId: string, why: string, uninstallFromGenstore = false): Promise<ShopConfig | null> {
    const at = now();
    const before = await deps.shops.get(shopId);
    if (uninstallFromGenstore && before?.genstoreAccessToken) await api().uninstall(before.callbackBaseUrl, before.genstoreAccessToken);
    const shop = await deps.shops.update(
      shopId,
      { genstoreAccessToken: undefined, testCredentials: {}, liveCredentials: {}, deactivatedAt: at, accountAuthorizedAt: undefined },
      at,
    );
    changed(shopId);
    deps.log({ level: "info", msg: "shop deactivated", shopId, why, known: shop !== null });
    return shop;
  }

  async function redact(shopId: string): Promise<void> {
    const removed = await deps.shops.delete(shopId);
    changed(shopId);
    deps.log({ level: "info", msg: "shop settings removed (shop/redact)", shopId, removed });
  }

  return { install, authorize, activate, deactivate, redact, shop: (shopId: string) => deps.shops.get(shopId), api: deps.api };
}

export type Onboarding = ReturnType<typeof createOnboarding>;
