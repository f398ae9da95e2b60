import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ShopService,
  type CreateShopRequest,
  type DeactivateShopRequest,
  type DeleteShopRequest,
  type GetShopRequest,
  type ListShopsRequest,
  type ShopSchema,
  type ShopSettings,
  type UpdateShopRequest,
} from "../../gen/genstore/payment/v1/shop_service_pb.js";
import { PaymentError, invalidArgument, notFound } from "../payments/errors.js";
import { redirectHostProblem } from "../payments/redirects.js";
import { isHttpUrl } from "../runtime/isHttpUrl.js";
import { defaultCallbackBase, shopPattern, type ShopConfig, type ShopDirectory, type ShopPatch, type ShopRepository } from "../payments/shops.js";
import type { ConnectorModule } from "../psp/module.js";
import { OnboardingError, type Onboarding } from "../onboarding/onboarding.js";
import { GenstoreCallError } from "../onboarding/genstoreApp.js";
import type { Logger } from "../observability/logger.js";
import { handleWith } from "./handleWith.js";

function toShop(s: ShopConfig, fromEnvironment = false): MessageInitShape<typeof ShopSchema> {
  return {
    fromEnvironment,
    shopId: s.shopId,
    psp: s.psp,
    testCredentialNames: Object.keys(s.testCredentials).sort(),
    liveCredentialNames: Object.keys(s.liveCredentials).sort(),
    hasGenstoreAccessToken: Boolean(s.genstoreAccessToken),
    hasGenstoreClientSecret: Boolean(s.genstoreClientSecret),
    callbackBaseUrl: s.callbackBaseUrl,
    manualCaptureMeansAuthorizeOnly: s.manualCaptureMeansAuthorizeOnly,
    redirectHosts: s.redirectHosts ?? [],
    sendReceiptEmail: s.sendReceiptEmail ?? false,
    deactivateTime: s.deactivatedAt ? timestampFromDate(s.deactivatedAt) : undefined,
    accountAuthorizeTime: s.accountAuthorizedAt ? timestampFromDate(s.accountAuthorizedAt) : undefined,
    shopDomain: s.shopDomain ?? "",
    createTime: timestampFromDate(s.createdAt),
    updateTime: timestampFromDate(s.updatedAt),
  };
}

function patchFrom(settings: ShopSettings | undefined, knownPsps: readonly string[]): ShopPatch {
  const patch: ShopPatch = {};
  if (!settings) return patch;
  if (settings.psp !== undefined) {
    if (!knownPsps.includes(settings.psp)) throw invalidArgument(`settings.psp must be one of ${knownPsps.join(", ")}`);
    patch.psp = settings.psp;
  }
  if (settings.testCredentials) patch.testCredentials = { ...settings.testCredentials.values };
  if (settings.liveCredentials) patch.liveCredentials = { ...settings.liveCredentials.values };
  if (settings.genstoreAccessToken !== undefined) patch.genstoreAccessToken = settings.genstoreAccessToken || undefined;
  if (settings.genstoreClientSecret !== undefined) patch.genstoreClientSecret = settings.genstoreClientSecret || undefined;
  if (settings.callbackBaseUrl !== undefined) {
    if (!isHttpUrl(settings.callbackBaseUrl)) throw invalidArgument("settings.callbackBaseUrl must be an http(s) URL");
    patch.callbackBaseUrl = settings.callbackBaseUrl.replace(/\/+$/, "");
  }
  if (settings.manualCaptureMeansAuthorizeOnly !== undefined) patch.manualCaptureMeansAuthorizeOnly = settings.manualCaptureMeansAuthorizeOnly;
  if (settings.sendReceiptEmail !== undefined) patch.sendReceiptEmail = settings.sendReceiptEmail;
  if (settings.redirectHosts) {
    const problems = settings.redirectHosts.hosts.map(redirectHostProblem).filter((p) => p !== undefined);
    if (problems.length) throw invalidArgument(`settings.redirectHosts: ${problems.join("; ")}`);
    patch.redirectHosts = [...settings.redirectHosts.hosts];
  }
  return patch;
}

/** Refuses credentials the shop's PSP says are unusable, before anything is stored. */
function checkCredentials(modules: readonly ConnectorModule<never>[], shop: Pick<ShopConfig, "psp" | "testCredentials" | "liveCredentials">): void {
  const module = modules.find((m) => m.name === shop.psp);
  if (!module) throw invalidArgument(`settings.psp must be one of ${modules.map((m) => m.name).join(", ")}`);
  const problems = [...module.credentialProblems("test", shop.testCredentials), ...module.credentialProblems("live", shop.liveCredentials)];
  if (problems.length) throw invalidArgument(`settings for ${shop.psp}: ${problems.join("; ")}`);
}

/** DeleteShop and DeactivateShop: a shop's settings wiped, its payments kept. */
function lifecycleRpcs(repository: ShopRepository, onboarding: Onboarding, log: Logger, checkId: (id: string) => void) {
  const m = ShopService.method;
  return {
    deleteShop: handleWith(m.deleteShop.input, m.deleteShop.name, log, false, async (_meta, req: DeleteShopRequest) => {
      checkId(req.shopId);
      if (!(await repository.get(req.shopId))) throw notFound(`shop ${req.shopId} not found`);
      await onboarding.redact(req.shopId);
      return {};
    }),
    deactivateShop: handleWith(m.deactivateShop.input, m.deactivateShop.name, log, false, async (_meta, req: DeactivateShopRequest) => {
      checkId(req.shopId);
      if (!(await repository.get(req.shopId))) throw notFound(`shop ${req.shopId} not found`);
      try {
        const shop = await onboarding.deactivate(req.shopId, "deactivated by an operator", req.uninstallFromGenstore);
        if (!shop) throw notFound(`shop ${req.shopId} not found`);
        return { shop: toShop(shop) };
      } catch (err) {
        // Nothing was wiped: Genstore must hear of the uninstall first.
        if (err instanceof GenstoreCallError || err instanceof OnboardingError)
          throw new PaymentError("unavailable", `the shop was not deactivated: ${err.message}`);
        throw err;
      }
    }),
  };
}

/** A page of shops in id order after `after`: the stored ones, and the environment's unless one is stored under its id. */
async function listPage(repository: ShopRepository, environmentShop: ShopConfig | undefined, after: string, size: number) {
  const stored = await repository.list(after, size + 1);
  const env = environmentShop;
  const merged =
    env && env.shopId > after && !stored.some((s) => s.shopId === env.shopId) && !(await repository.get(env.shopId))
      ? [...stored, env].sort((a, b) => (a.shopId < b.shopId ? -1 : 1))
      : stored;
  const page = merged.slice(0, size);
  const last = page[page.length - 1];
  return {
    shops: page.map((s) => toShop(s, s === env)),
    nextPageToken: merged.length > size && last ? Buffer.from(last.shopId, "utf8").toString("base64url") : "",
  };
}

/**
 * ShopService (internal, operators): shops and their PSP and Genstore settings. The default
 * shop from the environment (environmentShop) is listed and read like the stored ones, marked.
 */
export function createShopServiceImpl(
  repository: ShopRepository,
  directory: ShopDirectory,
  modules: readonly ConnectorModule<never>[],
  log: Logger,
  onboarding: Onboarding,
  environmentShop: ShopConfig | undefined,
  now: () => Date = () => new Date(),
): ServiceImpl<typeof ShopService> {
  const m = ShopService.method;
  const knownPsps = modules.map((c) => c.name);
  const checkId = (id: string) => {
    if (!shopPattern.test(id)) throw invalidArgument(`shopId must be 1-100 letters, digits, ".", "_" or "-"`);
  };
  return {
    createShop: handleWith(m.createShop.input, m.createShop.name, log, false, async (_meta, req: CreateShopRequest) => {
      checkId(req.shopId);
      const at = now();
      const patch = patchFrom(req.settings, knownPsps);
      const shop: ShopConfig = {
        shopId: req.shopId,
        psp: patch.psp ?? "sandbox",
        testCredentials: patch.testCredentials ?? {},
        liveCredentials: patch.liveCredentials ?? {},
        genstoreAccessToken: patch.genstoreAccessToken,
        genstoreClientSecret: patch.genstoreClientSecret,
        callbackBaseUrl: patch.callbackBaseUrl ?? defaultCallbackBase(req.shopId),
        manualCaptureMeansAuthorizeOnly: patch.manualCaptureMeansAuthorizeOnly ?? true,
        redirectHosts: patch.redirectHosts ?? [],
        createdAt: at,
        updatedAt: at,
      };
      checkCredentials(modules, shop);
      if (!(await repository.create(shop))) throw new PaymentError("idempotency_conflict", `shop ${req.shopId} already exists; use UpdateShop`);
      directory.forget(req.shopId);
      log({ level: "info", msg: "shop created", shopId: req.shopId, psp: shop.psp });
      return { shop: toShop(shop) };
    }),
    updateShop: handleWith(m.updateShop.input, m.updateShop.name, log, false, async (_meta, req: UpdateShopRequest) => {
      checkId(req.shopId);
      const patch = patchFrom(req.settings, knownPsps);
      const current = await repository.get(req.shopId);
      if (!current && req.shopId === environmentShop?.shopId)
        throw notFound(`shop ${req.shopId} comes from the environment (DEFAULT_SHOP_*): change those settings, or use CreateShop to store one in its place`);
      if (!current) throw notFound(`shop ${req.shopId} not found`);
      checkCredentials(modules, { ...current, ...patch });
      const shop = await repository.update(req.shopId, patch, now());
      if (!shop) throw notFound(`shop ${req.shopId} not found`);
      directory.forget(req.shopId);
      log({ level: "info", msg: "shop updated", shopId: req.shopId });
      return { shop: toShop(shop) };
    }),
    getShop: handleWith(m.getShop.input, m.getShop.name, log, false, async (_meta, req: GetShopRequest) => {
      const shop = await repository.get(req.shopId);
      if (shop) return { shop: toShop(shop) };
      if (req.shopId === environmentShop?.shopId) return { shop: toShop(environmentShop, true) };
      throw notFound(`shop ${req.shopId} not found`);
    }),
    listShops: handleWith(m.listShops.input, m.listShops.name, log, false, async (_meta, req: ListShopsRequest) => {
      const size = req.pageSize <= 0 ? 100 : Math.min(req.pageSize, 1000);
      const after = req.pageToken ? Buffer.from(req.pageToken, "base64url").toString("utf8") : "";
      return listPage(repository, environmentShop, after, size);
    }),
    ...lifecycleRpcs(repository, onboarding, log, checkId),
  };
}
