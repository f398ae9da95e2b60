import type { Db } from "mongodb";
import { isDuplicateKey } from "../runtime/databaseErrors.js";

/** PSP webhook event ids seen, so that an event delivered twice is applied once. */
export interface WebhookEventRepository {
  /** true the first time an id is claimed; false for a redelivery. */
  claim(id: string, idempotencyKey: string): Promise<boolean>;
  /** Forgets an id whose event failed, so that the PSP's retry is applied. */
  release(id: string): Promise<void>;
}

export function createWebhookEventRepository(db: Db): WebhookEventRepository {
  const seen = db.collection<{ _id: string; receivedAt: Date; idempotencyKey: string }>("webhook_events");
  return {
    async claim(id, idempotencyKey) {
      try {
        await seen.insertOne({ _id: id, receivedAt: new Date(), idempotencyKey });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },
    async release(id) {
      await seen.deleteOne({ _id: id });
    },
  };
}
