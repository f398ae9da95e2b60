import { BSON, type Document } from "mongodb";
import { pspIdempotencyKey } from "../payments/idempotencyKeys.js";
import type { CallbackRecord, PaymentRecord, PaymentRepository } from "../payments/records.js";
import { createBoundedMap } from "../runtime/boundedMap.js";
import { afterChange } from "./paymentRepository.js";
import { storedOutbox } from "./storedEntries.js";
import { fromStored, toStored, type Stored } from "./storedRecords.js";

const decoded = (doc: Doc | undefined) => fromStored<PaymentRecord>((doc ?? null) as Stored<PaymentRecord> | null);

/** A payment as stored: its timeline and callbacks as texts (storedEntries.ts). */
type Doc = Document;

/**
 * The payment documents this instance wrote last, exactly as the database holds them. Kept as
 * BSON: every read gets its own copy, which a caller may change without changing the cache.
 */
export interface PaymentCache {
  get(key: string): Doc | undefined;
  set(key: string, doc: Doc): void;
  drop(key: string): void;
}

export function createPaymentCache(maxEntries: number): PaymentCache {
  const docs = createBoundedMap<string, Buffer>({ maxEntries });
  return {
    get(key) {
      const bytes = docs.get(key);
      return bytes && BSON.deserialize(bytes);
    },
    set: (key, doc) => docs.set(key, Buffer.from(BSON.serialize(doc))),
    drop: (key) => void docs.delete(key),
  };
}

/** The fields an outbox write sets (outboxWrites.ts, outboxAndScans.ts), as stored. */
const outboxFields = (callbacks: readonly CallbackRecord[], nextCallbackAt: Date | null) => ({ ...storedOutbox(callbacks), nextCallbackAt });

/**
 * The repository of the embedded FerretDB that only this instance writes to (decisions.md D11),
 * reading the payments it wrote last from memory: a capture, a refund or a callback's delivery
 * reads the payment the request before it has just written, and each such read cost FerretDB a
 * lookup and the decoding of the whole document (6 of them per lifecycle in the bench).
 *
 * Only writes fill the cache, each with the document it left behind, computed from the entry it
 * changed (never from a read, which may return a document older than a write beside it, nor from
 * the caller's copy, which may carry the delivery journal's facts that the document does not).
 * Every write drops its entry first, so that a failed write leaves none, and puts back the entry
 * unchanged when it changed nothing (a guard refused, a stale outbox write). Writes of one payment
 * run under its lock, one at a time. Never for MongoDB, nor a database other instances write to.
 */
export function cachedPayments(repository: PaymentRepository, cache: PaymentCache): PaymentRepository {
  const keyOf = (shopId: string, paymentId: string) => pspIdempotencyKey("payment", shopId, paymentId);
  /** Runs a write of `key` from its cached document (if any), then caches what it left behind. */
  async function write<T>(key: string, run: () => Promise<T>, after: (before: Doc, result: T) => Doc): Promise<T> {
    const before = cache.get(key);
    cache.drop(key);
    const result = await run();
    if (before) cache.set(key, after(before, result));
    return result;
  }
  const cached = (key: string) => decoded(cache.get(key));
  return {
    ...repository,
    async claimPayment(record) {
      const key = keyOf(record.shopId, record._id);
      cache.drop(key);
      const claimed = await repository.claimPayment(record);
      if (claimed.inserted) cache.set(key, toStored(record, key));
      return claimed;
    },
    async findPayment(shopId, paymentId) {
      const hit = cached(keyOf(shopId, paymentId));
      return hit && hit.shopId === shopId ? hit : repository.findPayment(shopId, paymentId);
    },
    findPaymentByIdempotencyKey: async (key) => cached(key) ?? repository.findPaymentByIdempotencyKey(key),
    updatePayment(shopId, paymentId, guard, change, current) {
      const key = keyOf(shopId, paymentId);
      return write(
        key,
        () => repository.updatePayment(shopId, paymentId, guard, change, current),
        (before, updated) => (updated ? toStored(afterChange(decoded(before)!, change), key) : before),
      );
    },
    saveCallbacks(shopId, paymentId, callbacks, next, changed) {
      return write(
        keyOf(shopId, paymentId),
        () => repository.saveCallbacks(shopId, paymentId, callbacks, next, changed),
        (before) => ({ ...before, ...outboxFields(callbacks, next), ...(changed ? { version: Number(before.version ?? 0) + 1 } : {}) }),
      );
    },
    async saveOutboxes(writes) {
      const keys = writes.map((w) => keyOf(w.shopId, w.paymentId));
      const before = keys.map((k) => cache.get(k));
      for (const k of keys) cache.drop(k);
      const written = await repository.saveOutboxes(writes);
      writes.forEach((w, i) => {
        const doc = before[i];
        if (doc) cache.set(keys[i]!, written[i] ? { ...doc, ...outboxFields(w.callbacks, w.nextCallbackAt) } : doc);
      });
      return written;
    },
  };
}
