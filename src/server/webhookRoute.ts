import type { Logger } from "../observability/logger.js";
import type { ShopDirectory } from "../payments/shops.js";
import type { PaymentUseCases } from "../payments/use-cases/index.js";
import { WebhookSignatureError, type WebhookEvent, type WebhookShop } from "../psp/connector.js";
import type { ConnectorRegistry } from "../psp/registry.js";
import type { WebhookEventRepository } from "../store/webhookEventRepository.js";
import { answerBusy, forget, remember } from "./webhookClaims.js";
import { headersOf, HttpError, readBody, sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";
import { isDatabaseUnavailable } from "../runtime/databaseErrors.js";

export interface WebhookRouteDeps {
  connectors: ConnectorRegistry;
  shops: ShopDirectory;
  useCases: Pick<PaymentUseCases, "applyWebhook">;
  events: WebhookEventRepository;
  log: Logger;
  maxBodyBytes: number;
}

/** The shop a webhook was posted to, as its connector needs it; an HttpError 404 when there is none. */
async function webhookShop(deps: WebhookRouteDeps, name: string, shopId: string | undefined): Promise<WebhookShop | undefined> {
  if (shopId === undefined) return undefined;
  const s = await deps.shops.find(shopId);
  if (!s) throw new HttpError(404, `no shop ${shopId} here`);
  if (s.psp !== name) throw new HttpError(404, `shop ${shopId} does not use ${name}`);
  return { shopId, testCredentials: s.testCredentials, liveCredentials: s.liveCredentials };
}

/**
 * POST /psp/{connector}/webhooks[/{shopId}]: the PSP's notifications. PSPs that sign with a
 * secret per merchant account (Stripe) post to the shop's own URL. The signature is checked by
 * the connector, each event id is applied once, and the outcome only ever moves a payment forward.
 */
export function createWebhookRoute(deps: WebhookRouteDeps) {
  return async function webhookRoute(req: NodeRequest, res: NodeResponse, name: string, shopId?: string): Promise<void> {
    const connector = deps.connectors.find(name);
    if (!connector) return sendJson(res, 404, { error: `no connector named ${name}` });
    if (!connector.parseWebhook) return sendJson(res, 404, { error: `connector ${name} takes no webhooks` });
    let event: WebhookEvent | null;
    try {
      const shop = await webhookShop(deps, name, shopId);
      event = connector.parseWebhook(await readBody(req, deps.maxBodyBytes), headersOf(req), shop);
    } catch (err) {
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message }, err.status === 413 ? { connection: "close" } : {});
      if (!(err instanceof WebhookSignatureError)) throw err;
      deps.log({ level: "warn", msg: "webhook refused", connector: name, shopId, reason: err.message });
      return sendJson(res, 401, { error: err.message });
    }
    // Genuine, but about nothing of ours (another integration's payment, an event type we do not use).
    if (!event) return sendJson(res, 200, { received: true, ignored: true });
    const id = `${name}:${event.id}`;
    const claim = await deps.events.claim(id, event.idempotencyKey);
    if (claim === "duplicate") return sendJson(res, 200, { received: true, duplicate: true });
    if (claim === "busy") return answerBusy(res);
    try {
      const result = await deps.useCases.applyWebhook(name, event, shopId);
      deps.log({ level: "info", msg: "webhook applied", connector: name, shopId, event: event.id, outcome: event.outcome.kind, result });
    } catch (err) {
      // Let the PSP retry: forget the event id so the retry is not taken for a duplicate.
      await forget(deps.events, claim, deps.log);
      // The PSP retries either way; an outage is answered as one, so its retry waits.
      if (isDatabaseUnavailable(err)) throw err;
      deps.log({ level: "error", msg: "webhook failed", connector: name, event: event.id, error: String(err) });
      return sendJson(res, 500, { error: "internal error" });
    }
    await remember(deps.events, claim, deps.log);
    sendJson(res, 200, { received: true });
  };
}
