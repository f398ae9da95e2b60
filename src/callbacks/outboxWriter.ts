import type { CallbackRecord, OutboxWrite, PaymentRecord, PaymentRepository } from "../payments/records.js";
import type { KeyedMutex } from "../runtime/keyedMutex.js";
import { nextDue } from "./retryPolicy.js";

/** Records delivery attempts in the payments' outboxes, many payments per database write. */
export interface OutboxWriter {
  /** Applies `change` to callback `callbackId` of `p` (as last read or written) and writes it; the payment as written. */
  record(p: PaymentRecord, callbackId: string, change: (cb: CallbackRecord) => void): Promise<PaymentRecord | null>;
}

export interface OutboxWriterOptions {
  repository: PaymentRepository;
  mutex: KeyedMutex;
  lockKey: (shopId: string, paymentId: string) => string;
  /** How long an attempt waits for others to share its write. */
  flushMs?: number;
  maxBatch?: number;
}

interface Entry {
  p: PaymentRecord;
  callbackId: string;
  change: (cb: CallbackRecord) => void;
  done: (p: PaymentRecord | null) => void;
  fail: (err: unknown) => void;
}

const applied = (p: PaymentRecord, entries: readonly Entry[]): PaymentRecord => {
  const callbacks = structuredClone(p.callbacks);
  for (const e of entries) {
    const cb = callbacks.find((c) => c.id === e.callbackId);
    if (cb) e.change(cb);
  }
  return { ...p, callbacks, nextCallbackAt: nextDue(callbacks) };
};

/** `deliveries` when every attempt of the group delivered a callback that was not delivered before. */
function onlyDeliveries(entries: readonly Entry[], after: PaymentRecord): Pick<OutboxWrite, "deliveries"> {
  const before = entries[0]!.p;
  const ids = entries.map((e) => e.callbackId);
  const delivered = (p: PaymentRecord, id: string) => p.callbacks.find((c) => c.id === id)?.state === "delivered";
  return ids.every((id) => !delivered(before, id) && delivered(after, id)) ? { deliveries: ids } : {};
}

/**
 * The delivery bookkeeping of every payment whose callback was attempted within `flushMs` goes
 * to the database as one write, with no read: each payment's outbox is written from the copy the
 * dispatcher holds, under the payment's lock, if the payment has not changed since (see
 * PaymentRepository.saveOutboxes); one that has is read and written again on its own.
 */
export function createOutboxWriter(opts: OutboxWriterOptions): OutboxWriter {
  const flushMs = opts.flushMs ?? 50;
  const maxBatch = opts.maxBatch ?? 64;
  let queued: Entry[] = [];
  let timer: NodeJS.Timeout | undefined;

  const withLocks = <T>(keys: readonly string[], task: () => Promise<T>): Promise<T> => {
    const [first, ...rest] = keys;
    return first === undefined ? task() : opts.mutex.run(first, () => withLocks(rest, task));
  };

  async function write(batch: Entry[]): Promise<void> {
    const groups = new Map<string, Entry[]>();
    for (const e of batch) {
      const key = opts.lockKey(e.p.shopId, e.p._id);
      groups.set(key, [...(groups.get(key) ?? []), e]);
    }
    // Locks in one order, so two flushes never wait on each other.
    const keys = [...groups.keys()].sort();
    await withLocks(keys, async () => {
      const after = keys.map((k) => applied(groups.get(k)![0]!.p, groups.get(k)!));
      const writes: OutboxWrite[] = after.map((p, i) => ({
        shopId: p.shopId,
        paymentId: p._id,
        version: p.version,
        callbacks: p.callbacks,
        nextCallbackAt: p.nextCallbackAt,
        ...onlyDeliveries(groups.get(keys[i]!)!, p),
      }));
      const written = await opts.repository.saveOutboxes(writes);
      for (const [i, key] of keys.entries()) {
        const entries = groups.get(key)!;
        let result: PaymentRecord | null = after[i]!;
        if (!written[i]) {
          // Changed since the dispatcher's copy (or not known unchanged): from a fresh read.
          const fresh = await opts.repository.findPayment(result.shopId, result._id);
          result = fresh && applied(fresh, entries);
          if (result) await opts.repository.saveCallbacks(result.shopId, result._id, result.callbacks, result.nextCallbackAt);
        }
        for (const e of entries) e.done(result);
      }
    });
  }

  function flush(): void {
    clearTimeout(timer);
    timer = undefined;
    const batch = queued;
    queued = [];
    if (batch.length) write(batch).catch((err) => batch.forEach((e) => e.fail(err)));
  }

  return {
    record(p, callbackId, change) {
      return new Promise((done, fail) => {
        queued.push({ p, callbackId, change, done, fail });
        if (queued.length >= maxBatch) flush();
        else timer ??= setTimeout(flush, flushMs);
      });
    },
  };
}
