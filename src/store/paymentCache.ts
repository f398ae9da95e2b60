import { BSON, type Document } from "mongodb";
import { pspIdempotencyKey } from "../payments/idempotencyKeys.js";
import type { CallbackRecord, PaymentRecord, PaymentRepository } from "../payments/records.js";
import { createBoundedMap } from "../runtime/boundedMap.js";
import { afterChange } from "./paymentRepository.js";
import { storedOutbox } from "./storedEntries.js";
import { fromStored, toStored, type Stored } from "./storedRecords.js";
import { applyUpdate, type SentWrites } from "./sentWrites.js";

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

/**
 * At most `maxEntries` documents of at most `maxBytes` each: a payment with hundreds of partial
 * refunds grows its timeline and outbox with each, and is read from the database instead.
 */
export function createPaymentCache(maxEntries: number, maxBytes = 16 * 1024): PaymentCache {
  const docs = createBoundedMap<string, Uint8Array>({ maxEntries });
  return {
    get(key) {
      const bytes = docs.get(key);
      return bytes && BSON.deserialize(bytes);
    },
    set(key, doc) {
      // undefined as null, as the driver writes it (BSON's own default leaves the field out).
      const bytes = BSON.serialize(doc, { ignoreUndefined: false });
      // A copy of its own: BSON's output and Buffer.from are slices of Node's shared pool slabs
      // (64 KB on Node 24 and 26), and one kept slice keeps its whole slab.
      if (bytes.length <= maxBytes) docs.set(key, new Uint8Array(bytes));
      else docs.delete(key);
    },
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
 * Only writes fill the cache, each with the document it left behind: the entry it changed with the
 * write laid over it as the repository sent it (`sent`, sentWrites.ts), or else with the change
 * applied to the decoded entry. Never from a read, which may return a document older than a write
 * beside it, nor from the caller's copy, which may carry the delivery journal's facts that the
 * document does not.
 * Every write drops its entry first, so that a failed write leaves none, and puts back the entry
 * unchanged when it changed nothing (a guard refused, a stale outbox write, a claim of an id
 * taken). Writes of one payment run under its lock, one at a time. Never for MongoDB, nor a
 * database other instances write to.
 */
export function cachedPayments(repository: PaymentRepository, cache: PaymentCache, sent?: SentWrites): PaymentRepository {
  // By shop and payment id, not the storage key: deriving that is a SHA-256 per lookup.
  const keyOf = (shopId: string, paymentId: string) => `${shopId}\u0000${paymentId}`;
  const { begin, write } = cacheWrites(cache);
  const cached = (key: string) => decoded(cache.get(key));
  return {
    ...repository,
    claimPayment(record) {
      return write(
        keyOf(record.shopId, record._id),
        () => repository.claimPayment(record),
        // A claim that found the id taken (Genstore's retry) changed nothing: the entry stays.
        (before, claimed) =>
          claimed.inserted ? (sent?.takeClaim(record) ?? toStored(record, pspIdempotencyKey("payment", record.shopId, record._id), true)) : before,
      );
    },
    async findPayment(shopId, paymentId) {
      const hit = cached(keyOf(shopId, paymentId));
      return hit && hit.shopId === shopId ? hit : repository.findPayment(shopId, paymentId);
    },
    updatePayment(shopId, paymentId, guard, change, current) {
      return write(
        keyOf(shopId, paymentId),
        () => repository.updatePayment(shopId, paymentId, guard, change, current),
        // No update (a guard refused, or no document): the document is as it was, under its _id.
        // Else the update as sent, laid over it, is what the database did to it; computed from
        // the decoded entry only where the repository did not say what it sent.
        (before, updated) => {
          const sentUpdate = sent?.takeUpdate(change);
          if (!before || !updated) return before;
          return (sentUpdate && applyUpdate(before, sentUpdate)) ?? toStored(afterChange(decoded(before)!, change), before._id as string, true);
        },
      );
    },
    saveCallbacks(shopId, paymentId, callbacks, next, changed) {
      return write(
        keyOf(shopId, paymentId),
        () => repository.saveCallbacks(shopId, paymentId, callbacks, next, changed),
        (before) => before && { ...before, ...outboxFields(callbacks, next), ...(changed ? { version: Number(before.version ?? 0) + 1 } : {}) },
      );
    },
    async saveOutboxes(outboxes) {
      const started = outboxes.map((o) => begin(keyOf(o.shopId, o.paymentId)));
      let written: boolean[];
      try {
        written = await repository.saveOutboxes(outboxes);
      } catch (err) {
        for (const w of started) w.end(undefined);
        throw err;
      }
      // Not written (changed since the caller's copy): that document is as it was.
      outboxes.forEach((o, i) => {
        const { before, end } = started[i]!;
        end(before && (written[i] ? { ...before, ...outboxFields(o.callbacks, o.nextCallbackAt) } : before));
      });
      return written;
    },
  };
}

/** Writes of cached keys: each drops its entry while it runs, then leaves what it wrote, or none. */
export function cacheWrites(cache: PaymentCache) {
  // The last write begun on each key: only it may leave an entry. That is not proof against
  // overlapping writes (the last begun may land in the database before an earlier one): the
  // payment's lock keeps a key's writes one at a time; this only narrows what a slip would cost.
  let writes = 0;
  const latest = new Map<string, number>();
  /** Starts a write of `key`: its cached document, dropped until `end` caches what the write left. */
  function begin(key: string) {
    const before = cache.get(key);
    cache.drop(key);
    const id = ++writes;
    latest.set(key, id);
    return {
      before,
      end(after: Doc | undefined) {
        if (latest.get(key) !== id) return;
        latest.delete(key);
        if (after) cache.set(key, after);
      },
    };
  }
  /** A write of one key: `after` gets the cached document (if any) and the write's result. */
  async function write<T>(key: string, run: () => Promise<T>, after: (before: Doc | undefined, result: T) => Doc | undefined): Promise<T> {
    const w = begin(key);
    let result: T;
    try {
      result = await run();
    } catch (err) {
      w.end(undefined); // it may have been written: the next read goes to the database
      throw err;
    }
    w.end(after(w.before, result));
    return result;
  }
  return { begin, write };
}
