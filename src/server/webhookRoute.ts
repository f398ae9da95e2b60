import { MongoServerError, type Db } from "mongodb";
import { headersOf, sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";
import type { PaymentUseCases } from "../payments/paymentUseCases.js";
import { PaymentError } from "../payments/errors.js";
import type { ShopDirectory } from "../payments/shops.js";
import { WebhookSignatureError, type WebhookShop } from "../psp/connector.js";
import type { ConnectorRegistry } from "../psp/registry.js";

/**
 * POST /psp/{connector}/webhooks[/{shopId}]: the PSP's notifications. PSPs that sign with a
 * secret per merchant account (Stripe) post to the shop's own URL. The signature is checked by
 * the connector, each event id is applied once (a unique insert in webhook_events), and the
 * outcome only ever moves a payment forward.
 */
export function createWebhookRoute(connectors: ConnectorRegistry, shops: ShopDirectory, useCases: PaymentUseCases, db: Db, log: (e: Record<string, unknown>) => void, maxBodyBytes: number) {
  const seen = db.collection<{ _id: string; receivedAt: Date; idempotencyKey: string }>("webhook_events");
  return async function webhookRoute(req: NodeRequest, res: NodeResponse, name: string, shopId?: string): Promise<void> {
    if (!connectors.names().includes(name)) return sendJson(res, 404, { error: `no connector named ${name}` });
    const connector = connectors.get(name);
    if (!connector.parseWebhook) return sendJson(res, 404, { error: `connector ${name} takes no webhooks` });
    let shop: WebhookShop | undefined;
    if (shopId !== undefined) {
      try {
        const s = await shops.get(shopId);
        if (s.psp !== name) return sendJson(res, 404, { error: `shop ${shopId} does not use ${name}` });
        shop = { shopId, testCredentials: s.testCredentials, liveCredentials: s.liveCredentials };
      } catch (err) {
        if (err instanceof PaymentError) return sendJson(res, 404, { error: `no shop ${shopId} here` });
        throw err;
      }
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBodyBytes) return sendJson(res, 413, { error: `webhook body is larger than ${maxBodyBytes} bytes` }, { connection: "close" });
      chunks.push(chunk);
    }
    const headers = headersOf(req);
    let event;
    try {
      event = connector.parseWebhook(Buffer.concat(chunks), headers, shop);
    } catch (err) {
      if (err instanceof WebhookSignatureError) {
        log({ level: "warn", msg: "webhook refused", connector: name, shopId, reason: err.message });
        return sendJson(res, 401, { error: err.message });
      }
      throw err;
    }
    // Genuine, but about nothing of ours (another integration's payment, an event type we do not use).
    if (!event) return sendJson(res, 200, { received: true, ignored: true });
    try {
      await seen.insertOne({ _id: `${name}:${event.id}`, receivedAt: new Date(), idempotencyKey: event.idempotencyKey });
    } catch (err) {
      if (err instanceof MongoServerError && err.code === 11000) return sendJson(res, 200, { received: true, duplicate: true });
      throw err;
    }
    try {
      const result = await useCases.applyWebhook(name, event, shopId);
      log({ level: "info", msg: "webhook applied", connector: name, shopId, event: event.id, outcome: event.outcome.kind, result });
      sendJson(res, 200, { received: true });
    } catch (err) {
      // Let the PSP retry: forget the event id so the retry is not taken for a duplicate.
      await seen.deleteOne({ _id: `${name}:${event.id}` }).catch(() => {});
      log({ level: "error", msg: "webhook failed", connector: name, event: event.id, error: String(err) });
      sendJson(res, 500, { error: "internal error" });
    }
  };
}
