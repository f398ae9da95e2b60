import { callbackFields, isAfterCursor, matches, newerFirst, summaryOf, type PaymentListing, type PaymentSummary } from "../payments/paymentListing.js";
import type { PaymentRecord, PaymentRepository } from "../payments/records.js";

export interface PaymentIndex extends PaymentListing {
  /** Reads every stored payment once (start-up); listings wait for it, and if it fails `fallback` answers. */
  load(): Promise<void>;
  readonly loaded: boolean;
  /** Wraps a repository so that every payment it writes is indexed. */
  observe(repository: PaymentRepository): PaymentRepository;
}

const keyOf = (shopId: string, paymentId: string) => `${shopId}\u0000${paymentId}`;

const olderFirst = (a: PaymentSummary, b: PaymentSummary) => newerFirst(b, a);

/**
 * Where `s` belongs in the oldest-first order (binary search): the end, for a new payment, so it
 * is appended. Kept newest first, each new payment moved the whole list (0.26 ms at 100,000).
 */
function slot(list: PaymentSummary[], s: PaymentSummary): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (olderFirst(list[mid]!, s) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Drops the oldest payments of a full index down to nine tenths of its bound (so that a full index
 * does not trim on every write); returns the time before which it no longer knows every payment.
 */
function evictOldest(oldestFirst: PaymentSummary[], byKey: Map<string, PaymentSummary>, maxEntries: number): number {
  const drop = oldestFirst.splice(0, oldestFirst.length - Math.floor(maxEntries * 0.9));
  for (const o of drop) byKey.delete(keyOf(o.shopId, o.paymentId));
  return drop[drop.length - 1]!.createdAt.getTime() + 1;
}

/** Newest first, without copying the list. */
function* newestFirst(list: PaymentSummary[]): Generator<PaymentSummary> {
  for (let i = list.length - 1; i >= 0; i--) yield list[i]!;
}

/**
 * Payment summaries kept in memory, listed newest first, for the embedded FerretDB: it answers only
 * lookups by _id from an index, so a filtered listing there reads every payment (seconds for
 * 10,000). The embedded database belongs to one process, so this process sees every write: the
 * index is filled once from the database and then kept by the repository's own writes. Above
 * `maxEntries` the oldest payments are left to the database query (`fallback`).
 */
export function createPaymentIndex(fallback: PaymentListing, scan: () => AsyncIterable<PaymentSummary>, maxEntries = 200_000): PaymentIndex {
  const byKey = new Map<string, PaymentSummary>();
  let sorted: PaymentSummary[] | undefined; // oldest first: see slot()
  let loaded = false;
  let loading: Promise<void> | undefined;
  let evictedBefore = 0;

  // The order is kept as writes come: a changed payment keeps its place (its creation time does
  // not change), a new one is inserted where it belongs, so a listing never sorts.
  function put(s: PaymentSummary): void {
    const key = keyOf(s.shopId, s.paymentId);
    const known = byKey.get(key);
    if (known && known.createdAt.getTime() === s.createdAt.getTime()) {
      Object.assign(known, s);
      return;
    }
    byKey.set(key, s);
    if (known) sorted = undefined;
    else if (sorted) sorted.splice(slot(sorted, s), 0, s);
    // While the index fills, the load trims it once at the end (from the whole list, not a part).
    if (loaded && byKey.size > maxEntries) evictedBefore = Math.max(evictedBefore, evictOldest(ordered(), byKey, maxEntries));
  }
  const ordered = () => (sorted ??= [...byKey.values()].sort(olderFirst));
  const covers = (from: Date | undefined) => loaded && (evictedBefore === 0 || (from !== undefined && from.getTime() >= evictedBefore));

  return {
    get loaded() {
      return loaded;
    },
    load() {
      loading ??= (async () => {
        sorted = undefined; // sorted once at the end, not kept during the bulk load
        for await (const s of scan()) if (!byKey.has(keyOf(s.shopId, s.paymentId))) byKey.set(keyOf(s.shopId, s.paymentId), s);
        sorted = undefined; // sorted once, from everything read and written meanwhile
        const all = ordered();
        if (byKey.size > maxEntries) evictedBefore = evictOldest(all, byKey, maxEntries);
        loaded = true;
      })();
      return loading;
    },
    async list(filter, size, after) {
      // While the index fills, wait for it rather than start another full read of the payments.
      await loading?.catch(() => {});
      if (!covers(filter.createdAfter)) return fallback.list(filter, size, after);
      const out: PaymentSummary[] = [];
      for (const s of newestFirst(ordered())) {
        if (!isAfterCursor(s, after) || !matches(s, filter)) continue;
        out.push(s);
        if (out.length > size) break;
      }
      const page = out.slice(0, size);
      const last = page[page.length - 1];
      return {
        payments: page,
        ...(out.length > size && last ? { next: { createdAt: last.createdAt.getTime(), shopId: last.shopId, paymentId: last.paymentId } } : {}),
      };
    },
    async since(shopId, since, limit) {
      await loading?.catch(() => {});
      if (!covers(since)) return fallback.since(shopId, since, limit);
      const wanted = ordered().filter((s) => s.createdAt >= since && (!shopId || s.shopId === shopId));
      return wanted.slice(Math.max(0, wanted.length - limit));
    },
    observe: (repository) =>
      withScansFromMemory(
        observed(repository, put, (shopId, paymentId) => byKey.get(keyOf(shopId, paymentId))),
        async () => {
          // While it fills, wait: the database's answer would be the same full read, taking
          // connections from requests (two on FerretDB) for as long.
          if (!loaded) await loading?.catch(() => {});
          return loaded && evictedBefore === 0 ? byKey.values() : undefined;
        },
        () => !loaded && loading !== undefined,
      ),
  };
}

/** The repository, with every payment it writes passed to `put`. */
function observed(
  repository: PaymentRepository,
  put: (s: PaymentSummary) => void,
  known: (shopId: string, paymentId: string) => PaymentSummary | undefined,
): PaymentRepository {
  return {
    ...repository,
    async claimPayment(record) {
      const r = await repository.claimPayment(record);
      if (r.inserted) put(summaryOf(r.record));
      return r;
    },
    async updatePayment(shopId, paymentId, guard, change, current) {
      const p = await repository.updatePayment(shopId, paymentId, guard, change, current);
      if (p) put(summaryOf(p));
      return p;
    },
    async saveCallbacks(shopId, paymentId, callbacks, next, changed) {
      await repository.saveCallbacks(shopId, paymentId, callbacks, next, changed);
      const s = known(shopId, paymentId);
      if (s) put({ ...s, ...callbackFields(callbacks), nextCallbackAt: next });
    },
    async saveOutboxes(writes) {
      const written = await repository.saveOutboxes(writes);
      writes.forEach((w, i) => {
        const s = written[i] && known(w.shopId, w.paymentId);
        if (s) put({ ...s, ...callbackFields(w.callbacks), nextCallbackAt: w.nextCallbackAt });
      });
      return written;
    },
  };
}

/**
 * The background scans (due callbacks, open payments, the callback gauges) answered from the
 * summaries while they cover every payment: on FerretDB each of them would read and decode the
 * whole collection (seconds of its CPU at 10,000 payments, every few seconds, growing with the
 * data). The records found are then read by _id. `all` waits for the index to fill and is
 * undefined if it does not cover every payment (its load failed, or past its size): then the
 * database answers. The gauges do not wait (a scrape must answer): while it fills, they fail.
 */
function withScansFromMemory(
  repository: PaymentRepository,
  all: () => Promise<Iterable<PaymentSummary> | undefined>,
  filling: () => boolean,
): PaymentRepository {
  const read = async (found: PaymentSummary[]) =>
    (await Promise.all(found.map((s) => repository.findPayment(s.shopId, s.paymentId)))).filter((p): p is PaymentRecord => p !== null);
  return {
    ...repository,
    async findDueCallbacks(now, limit, skipShops = []) {
      const summaries = await all();
      if (!summaries) return repository.findDueCallbacks(now, limit, skipShops);
      const due = [...summaries].filter((s) => s.nextCallbackAt && s.nextCallbackAt <= now && !skipShops.includes(s.shopId));
      due.sort((a, b) => a.nextCallbackAt!.getTime() - b.nextCallbackAt!.getTime());
      return read(due.slice(0, limit));
    },
    async findStalePayments(states, before, limit) {
      const summaries = await all();
      if (!summaries) return repository.findStalePayments(states, before, limit);
      const stale = [...summaries].filter((s) => states.includes(s.state) && s.updatedAt < before);
      stale.sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime());
      return read(stale.slice(0, limit));
    },
    async countCallbacks() {
      if (filling()) throw new Error("the payment index is still filling");
      const summaries = await all();
      if (!summaries) return repository.countCallbacks();
      let pending = 0;
      let parked = 0;
      for (const s of summaries) {
        if (s.nextCallbackAt) pending++;
        if (s.callbacksParked) parked++;
      }
      return { pending, parked };
    },
  };
}
