import type { Logger } from "../observability/logger.js";
import { topics, webhookHeaders } from "../onboarding/genstoreApp.js";
import { OnboardingError, type Onboarding } from "../onboarding/onboarding.js";
import { shopPattern, type ShopConfig } from "../payments/shops.js";
import type { WebhookEventRepository } from "../store/webhookEventRepository.js";
import { answerBusy, forget, remember } from "./webhookClaims.js";
import { bodySignatureMatches } from "./auth/genstoreSignature.js";
import { HttpError, readBody, sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";

export interface GenstoreWebhookDeps {
  onboarding: Onboarding;
  clientId: string | undefined;
  clientSecret: string | undefined;
  seen: WebhookEventRepository;
  maxBodyBytes: number;
  redirectUri: () => string;
  log: Logger;
}

type Body = Record<string, unknown> & { authCode?: { clientId?: unknown; shopId?: unknown; code?: unknown } };

/** A webhook whose signature matched: its topic, its shop (from the signed body) and that shop's settings. */
interface Verified {
  topic: string;
  shopId: string;
  body: Body;
  shop: ShopConfig | null;
}

/** The shop a webhook is about: from the signed body first; a header may only agree with it. */
function shopOf(body: Body, headers: NodeRequest["headers"]): string {
  const fromBody = [body.shopId, body.shop_id, body.authCode?.shopId].find((v) => typeof v === "string" || typeof v === "number");
  const fromHeader = headers[webhookHeaders.shopId];
  const header = typeof fromHeader === "string" ? fromHeader : undefined;
  const shopId = fromBody !== undefined ? String(fromBody) : header;
  if (!shopId || !shopPattern.test(shopId)) throw new HttpError(400, "the webhook names no shop");
  if (header !== undefined && header !== shopId) throw new HttpError(401, "the X-Genstore-Shop-Id header names another shop than the signed body");
  return shopId;
}

/**
 * Fields that only other topics' bodies carry. The signature covers the body, not the topic
 * header beside it: a signed body of another topic (a compliance request, a pushed code) must not
 * be replayed as an uninstall or a redaction (README, Known limits of Genstore's signatures).
 */
const otherTopicsFields = ["authCode", "customer", "orders_requested", "ordersRequested", "orders_to_redact", "ordersToRedact", "data_request", "dataRequest"];

/**
 * POST /genstore/webhooks: Genstore's app webhooks (uninstall, the pushed authorization code, and
 * the compliance topics). Each is checked with X-Genstore-Hmac-Sha256 (hex or base64) over the
 * raw body before anything is read from it; a refusal changes nothing.
 */
export function createGenstoreWebhookRoute(deps: GenstoreWebhookDeps) {
  async function verified(req: NodeRequest): Promise<Verified> {
    const raw = await readBody(req, deps.maxBodyBytes);
    const signature = req.headers[webhookHeaders.hmac];
    if (typeof signature !== "string" || !signature) throw new HttpError(401, "the webhook is not signed (X-Genstore-Hmac-Sha256)");
    let body: Body;
    try {
      body = JSON.parse(raw.toString("utf8")) as Body;
    } catch {
      throw new HttpError(400, "the webhook body is not JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "the webhook body is not a JSON object");
    const shopId = shopOf(body, req.headers);
    const shop = await deps.onboarding.shop(shopId);
    const secret = shop?.genstoreClientSecret ?? deps.clientSecret;
    if (!secret || !bodySignatureMatches(raw, signature, secret)) throw new HttpError(401, "the webhook signature does not match");
    const topic = req.headers[webhookHeaders.topic];
    return { topic: typeof topic === "string" ? topic : "", shopId, body, shop };
  }

  return async function genstoreWebhook(req: NodeRequest, res: NodeResponse): Promise<void> {
    let hook: Verified;
    try {
      hook = await verified(req);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      deps.log({ level: "warn", msg: "genstore webhook refused", reason: err.message });
      return sendJson(res, err.status, { error: err.message }, err.status === 413 ? { connection: "close" } : {});
    }
    const { topic, shopId, body } = hook;
    if ((topic === topics.uninstalled || topic === topics.shopRedact) && otherTopicsFields.some((f) => f in body)) {
      deps.log({ level: "warn", msg: "genstore webhook refused", reason: "another topic's body", topic, shopId });
      return sendJson(res, 401, { error: `the signed body is not a ${topic} body: it carries another topic's fields` });
    }
    const header = req.headers[webhookHeaders.id];
    const id = typeof header === "string" && header ? `genstore-webhook:${header.slice(0, 200)}` : undefined;
    // Refused before its id is claimed: a refusal writes nothing, and the corrected retry acts.
    const refusal = refusalOf(deps, hook, req);
    if (refusal) {
      deps.log({ level: "warn", msg: "genstore webhook not acted on", topic, shopId, reason: refusal });
      return sendJson(res, 400, { error: refusal });
    }
    const claim = id ? await deps.seen.claim(id, topic) : undefined;
    if (claim === "duplicate") return sendJson(res, 200, { received: true, duplicate: true });
    if (claim === "busy") return answerBusy(res);
    deps.log({ level: "info", msg: "genstore webhook", topic, shopId });
    try {
      await act(deps, hook, req, res);
    } catch (err) {
      // Genstore retries what failed: forget the id, so that the retry acts instead of being
      // answered as a duplicate.
      if (claim) await forget(deps.seen, claim, deps.log);
      if (!(err instanceof HttpError)) throw err; // answered by the port: 503 or 500
      deps.log({ level: "warn", msg: "genstore webhook not acted on", topic, shopId, reason: err.message });
      return sendJson(res, err.status, { error: err.message });
    }
    if (claim) await remember(deps.seen, claim, deps.log);
  };
}

/** A pushed authorization code for this app, with the shop domain it came with; undefined for another app's. */
function pushedGrant(deps: GenstoreWebhookDeps, body: Body, req: NodeRequest): { code: string; domain: string } | undefined {
  const grant = body.authCode ?? {};
  if (grant.clientId !== deps.clientId || typeof grant.code !== "string") return undefined;
  return { code: grant.code, domain: String(req.headers[webhookHeaders.shopDomain] ?? "").toLowerCase() };
}

/** Why a genuine webhook is refused as it stands (400), before anything is written; undefined to act on it. */
function refusalOf(deps: GenstoreWebhookDeps, hook: Verified, req: NodeRequest): string | undefined {
  if (hook.topic !== topics.codeGranted) return undefined;
  const grant = pushedGrant(deps, hook.body, req);
  // Another app's code is ignored, not refused.
  return !grant || deps.onboarding.api?.allowsDomain(grant.domain) ? undefined : "X-Genstore-Shop-Domain names no Genstore shop domain";
}

/** A pushed authorization code: the shop installs as if its merchant had consented on our page. */
async function codeGranted(deps: GenstoreWebhookDeps, shopId: string, body: Body, req: NodeRequest): Promise<Record<string, unknown>> {
  const grant = pushedGrant(deps, body, req);
  if (!grant) return { received: true, ignored: "not for this app" };
  try {
    await deps.onboarding.install(shopId, grant.domain, grant.code, deps.redirectUri());
    return { received: true, installed: true };
  } catch (err) {
    if (!(err instanceof OnboardingError)) throw err;
    deps.log({ level: "warn", msg: "pushed authorization code not exchanged", shopId, error: err.message });
    return { received: true, installed: false };
  }
}

/** What a verified, first-seen webhook does. */
async function act(deps: GenstoreWebhookDeps, hook: Verified, req: NodeRequest, res: NodeResponse): Promise<void> {
  const { topic, shopId, body, shop } = hook;
  switch (topic) {
    case topics.uninstalled:
      await deps.onboarding.deactivate(shopId, topics.uninstalled);
      return sendJson(res, 200, { received: true });
    case topics.codeGranted:
      return sendJson(res, 200, await codeGranted(deps, shopId, body, req));
    case topics.customersDataRequest:
    case topics.customersRedact:
      // Payments hold amounts, states, PSP references and a card's brand and last four digits:
      // no name, e-mail, address or phone of a customer, so there is nothing to send or erase.
      return sendJson(res, 200, { received: true, customerPersonalData: "none kept" });
    case topics.shopRedact: {
      // Genstore asks for a redaction after an uninstall; a shop still active keeps its settings.
      if (shop && !shop.deactivatedAt) {
        deps.log({ level: "warn", msg: "shop/redact for an active shop ignored", shopId });
        return sendJson(res, 200, { received: true, ignored: "the shop is still installed: a redaction follows an uninstall" });
      }
      await deps.onboarding.redact(shopId);
      return sendJson(res, 200, { received: true });
    }
    default:
      return sendJson(res, 200, { received: true, ignored: `topic ${topic || "(none)"} is not used` });
  }
}
