import type { Document } from "mongodb";
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
 * The payment documents this instance wrote last, as the database holds them (what a BSON round
 * trip gives back). Every read gets its own copy, which a caller may change without changing the cache.
 */
export interface PaymentCache {
  get(key: string): Doc | undefined;
  set(key: string, doc: Doc): void;
  drop(key: string): void;
}

/**
 * At most `maxEntries` documents of about `maxBytes` each (their text counted): a payment with
 * hundreds of partial refunds grows its timeline and outbox with each, and is read from the
 * database instead. Kept as objects, copied in and out: a stored payment is a few texts, dates
 * and numbers, and copying it costs a tenth of writing it as BSON and reading it back (15 µs for
 * a card payment's document, measured apart: README, Performance).
 */
export function createPaymentCache(maxEntries: number, maxBytes = 16 * 1024): PaymentCache {
  const docs = createBoundedMap<string, Doc>({ maxEntries });
  return {
    get(key) {
      const doc = docs.get(key);
      return doc && (copyPlain(doc, { bytes: 0 }) as Doc);
    },
    set(key, doc) {
      const size = { bytes: 0 };
      const copy = copyPlain(doc, size);
      // Anything but plain data (no document of ours holds any) is read from the database.
      if (copy !== NOT_PLAIN && size.bytes <= maxBytes) docs.set(key, copy as Doc);
      else docs.delete(key);
    },
    drop: (key) => void docs.delete(key),
  };
}

const NOT_PLAIN = Symbol("not plain data");

/** ES2024's string methods (Node 20 and later), beyond the ES2023 library this project compiles against. */
type WellFormed = string & { isWellFormed(): boolean; toWellFormed(): string };

/**
 * A deep copy of plain data as BSON would give it back: undefined as null (as the driver writes
 * it), dates as new dates. `size.bytes` counts its texts and keys, 8 for every other value.
 * NOT_PLAIN for anything BSON would turn into something else (a buffer, a class instance, a map),
 * and for a key `__proto__`, which an assignment would take as the copy's prototype.
 */
function copyPlain(value: unknown, size: { bytes: number }, depth = 0): unknown {
  if (typeof value === "string") {
    size.bytes += value.length;
    // BSON writes a lone surrogate (a JSON body may carry one) as U+FFFD, and so reads it back.
    return (value as WellFormed).isWellFormed() ? value : (value as WellFormed).toWellFormed();
  }
  size.bytes += 8;
  if (value === undefined) return null;
  if (value === null || typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value !== "object" || depth > 32) return NOT_PLAIN;
  if (value instanceof Date) return new Date(value.getTime());
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) if ((out[i] = copyPlain(value[i], size, depth + 1)) === NOT_PLAIN) return NOT_PLAIN;
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "__proto__") return NOT_PLAIN;
    size.bytes += k.length;
    if ((out[k] = copyPlain(v, size, depth + 1)) === NOT_PLAIN) return NOT_PLAIN;
  }
  return out;
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
