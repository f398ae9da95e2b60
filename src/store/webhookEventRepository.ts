import type { Db } from "mongodb";
import { isDuplicateKey } from "../runtime/databaseErrors.js";

/**
 * A webhook id this delivery holds: the time its claim was written tells it from a later delivery
 * that took the claim over once it went stale, so that only the holder marks or forgets it.
 */
export interface HeldWebhook {
  id: string;
  since: Date;
}

/**
 * What a delivery may do with a webhook id: act on it (the claim it holds), answer it as one
 * already acted on ("duplicate"), or ask the sender to come back later because another delivery
 * of it is being acted on right now ("busy").
 */
export type WebhookClaim = HeldWebhook | "duplicate" | "busy";

/** Webhook ids seen (PSP events, Genstore's app webhooks) and OAuth codes used, so that a webhook delivered twice is acted on once. */
export interface WebhookEventRepository {
  /** Records a one-time id (an OAuth code) as used for good: true the first time, false ever after. */
  use(id: string, idempotencyKey: string): Promise<boolean>;
  /** Claims an id for acting on it; a claim neither done nor released is taken over once it is `staleMs` old. */
  claim(id: string, idempotencyKey: string): Promise<WebhookClaim>;
  /** Marks a held id as acted on: its redeliveries are duplicates from now on. */
  done(held: HeldWebhook): Promise<void>;
  /** Forgets a held id whose acting failed, so that the sender's retry acts (not if another delivery took it over). */
  release(held: HeldWebhook): Promise<void>;
}

export interface WebhookEventSettings {
  /**
   * How long a claim protects an act in progress. If neither done() nor release() reached the
   * database (it was down, the process died), a redelivery after this long acts again rather
   * than being answered as a duplicate of something that never happened.
   */
  staleMs?: number;
  now?: () => number;
}

interface SeenWebhook {
  _id: string;
  receivedAt: Date;
  idempotencyKey: string;
  /** true while a delivery acts on it; false (or absent, as written before claims could go stale) once done. */
  acting?: boolean;
}

export function createWebhookEventRepository(db: Db, settings: WebhookEventSettings = {}): WebhookEventRepository {
  const seen = db.collection<SeenWebhook>("webhook_events");
  const staleMs = settings.staleMs ?? 60_000;
  const now = settings.now ?? Date.now;
  return {
    async use(id, idempotencyKey) {
      try {
        await seen.insertOne({ _id: id, receivedAt: new Date(now()), idempotencyKey, acting: false });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },
    async claim(id, idempotencyKey) {
      const at = new Date(now());
      try {
        await seen.insertOne({ _id: id, receivedAt: at, idempotencyKey, acting: true });
        return { id, since: at };
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const held = await seen.findOne({ _id: id });
      if (!held) return "busy"; // released between the insert and the read: the next delivery claims it
      if (!held.acting) return "duplicate";
      if (at.getTime() - held.receivedAt.getTime() < staleMs) return "busy";
      // Taken over only if nobody took it over since the read (the filter holds the time read).
      const taken = await seen.updateOne({ _id: id, acting: true, receivedAt: held.receivedAt }, { $set: { receivedAt: at } });
      return taken.modifiedCount === 1 ? { id, since: at } : "busy";
    },
    // Both only while the claim is still this delivery's: a stale holder that finally fails must
    // not free the id under the delivery that took it over (a third would then act beside it).
    async done({ id, since }) {
      await seen.updateOne({ _id: id, acting: true, receivedAt: since }, { $set: { acting: false } });
    },
    async release({ id, since }) {
      await seen.deleteOne({ _id: id, acting: true, receivedAt: since });
    },
  };
}
