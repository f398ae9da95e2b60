import { callbackFields, isAfterCursor, matches, newerFirst, summaryOf, type PaymentListing, type PaymentSummary } from "../payments/paymentListing.js";
import type { PaymentRecord, PaymentRepository } from "../payments/records.js";
import { createInterner, PaymentEntry } from "./paymentEntry.js";

export interface PaymentIndex extends PaymentListing {
  /** Reads every stored payment once (start-up); listings wait for it, and if it fails `fallback` answers. */
  load(): Promise<void>;
  readonly loaded: boolean;
  /** Wraps a repository so that every payment it writes is indexed. */
  observe(repository: PaymentRepository): PaymentRepository;
}

const olderFirst = (a: PaymentEntry, b: PaymentEntry) => newerFirst(b, a);

/**
 * Where `e` belongs in the oldest-first order (binary search): the end, for a new payment, so it
 * is appended. Kept newest first, each new payment moved the whole list (0.26 ms at 100,000).
 */
function slot(list: PaymentEntry[], e: PaymentEntry): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (olderFirst(list[mid]!, e) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Newest first, without copying the list. */
function* newestFirst(list: PaymentEntry[]): Generator<PaymentEntry> {
  for (let i = list.length - 1; i >= 0; i--) yield list[i]!;
}

/**
 * The entries by shop, then by payment id: a map per shop keyed by the id the entry already
 * holds, rather than one map keyed by a joined string that each payment would carry twice.
 */
function createEntryMap() {
  const byShop = new Map<string, Map<string, PaymentEntry>>();
  let size = 0;
  return {
    get size() {
      return size;
    },
    get: (shopId: string, paymentId: string) => byShop.get(shopId)?.get(paymentId),
    set(e: PaymentEntry): void {
      let shop = byShop.get(e.shopId);
      if (!shop) byShop.set(e.shopId, (shop = new Map()));
      if (!shop.has(e.paymentId)) size++;
      shop.set(e.paymentId, e);
    },
    delete(e: PaymentEntry): void {
      const shop = byShop.get(e.shopId);
      if (!shop?.delete(e.paymentId)) return;
      size--;
      if (shop.size === 0) byShop.delete(e.shopId);
    },
    *values(): Generator<PaymentEntry> {
      for (const shop of byShop.values()) yield* shop.values();
    },
  };
}
type EntryMap = ReturnType<typeof createEntryMap>;

/**
 * Drops the oldest payments of a full index down to nine tenths of its bound (so that a full index
 * does not trim on every write); returns the time before which it no longer knows every payment.
 */
function evictOldest(oldestFirst: PaymentEntry[], entries: EntryMap, maxEntries: number): number {
  const drop = oldestFirst.splice(0, oldestFirst.length - Math.floor(maxEntries * 0.9));
  for (const o of drop) entries.delete(o);
  return drop[drop.length - 1]!.createdMs + 1;
}

/**
 * Payment summaries kept in memory, listed newest first, for the embedded FerretDB: it answers only
 * lookups by _id from an index, so a filtered listing there reads every payment (seconds for
 * 10,000). The embedded database belongs to one process, so this process sees every write: the
 * index is filled once from the database and then kept by the repository's own writes. Above
 * `maxEntries` the oldest payments are left to the database query (`fallback`). Each payment is
 * kept as a compact `PaymentEntry`.
 */
export function createPaymentIndex(fallback: PaymentListing, scan: () => AsyncIterable<PaymentSummary>, maxEntries = 200_000): PaymentIndex {
  const entries = createEntryMap();
  const intern = createInterner();
  let sorted: PaymentEntry[] | undefined; // oldest first: see slot()
  let loaded = false;
  let loading: Promise<void> | undefined;
  let evictedBefore = 0;

  // The order is kept as writes come: a changed payment keeps its place (its creation time does
  // not change), a new one is inserted where it belongs, so a listing never sorts.
  function put(s: PaymentSummary): void {
    const known = entries.get(s.shopId, s.paymentId);
    if (known && known.createdMs === s.createdAt.getTime()) {
      known.update(s, intern);
      return;
    }
    const e = new PaymentEntry(s, intern);
    entries.set(e);
    if (known) sorted = undefined;
    else if (sorted) sorted.splice(slot(sorted, e), 0, e);
    // While the index fills, the load trims it once at the end (from the whole list, not a part).
    if (loaded && entries.size > maxEntries) evictedBefore = Math.max(evictedBefore, evictOldest(ordered(), entries, maxEntries));
  }
  const ordered = () => (sorted ??= [...entries.values()].sort(olderFirst));
  const covers = (from: Date | undefined) => loaded && (evictedBefore === 0 || (from !== undefined && from.getTime() >= evictedBefore));

  return {
    get loaded() {
      return loaded;
    },
    load() {
      loading ??= (async () => {
        sorted = undefined; // sorted once at the end, not kept during the bulk load
        for await (const s of scan()) if (!entries.get(s.shopId, s.paymentId)) entries.set(new PaymentEntry(s, intern));
        sorted = undefined; // sorted once, from everything read and written meanwhile
        const all = ordered();
        if (entries.size > maxEntries) evictedBefore = evictOldest(all, entries, maxEntries);
        loaded = true;
      })();
      return loading;
    },
    async list(filter, size, after) {
      // While the index fills, wait for it rather than start another full read of the payments.
      await loading?.catch(() => {});
      if (!covers(filter.createdAfter)) return fallback.list(filter, size, after);
      const out: PaymentEntry[] = [];
      for (const e of newestFirst(ordered())) {
        if (!isAfterCursor(e, after) || !matches(e, filter)) continue;
        out.push(e);
        if (out.length > size) break;
      }
      const page = out.slice(0, size);
      const last = page[page.length - 1];
      return {
        payments: page.map((e) => e.summary()),
        ...(out.length > size && last ? { next: { createdAt: last.createdMs, shopId: last.shopId, paymentId: last.paymentId } } : {}),
      };
    },
    async since(shopId, since, limit) {
      await loading?.catch(() => {});
      if (!covers(since)) return fallback.since(shopId, since, limit);
      const from = since.getTime();
      const wanted = ordered().filter((e) => e.createdMs >= from && (!shopId || e.shopId === shopId));
      return wanted.slice(Math.max(0, wanted.length - limit)).map((e) => e.summary());
    },
    observe: (repository) =>
      withScansFromMemory(
        observed(repository, put, entries.get),
        async () => {
          // While it fills, wait: the database's answer would be the same full read, taking
          // connections from requests (two on FerretDB) for as long.
          if (!loaded) await loading?.catch(() => {});
          return loaded && evictedBefore === 0 ? entries.values() : undefined;
        },
        () => !loaded && loading !== undefined,
      ),
  };
}

/** The repository, with every payment it writes passed to `put`. */
function observed(
  repository: PaymentRepository,
  put: (s: PaymentSummary) => void,
  known: (shopId: string, paymentId: string) => PaymentEntry | undefined,
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
      known(shopId, paymentId)?.setCallbacks(callbackFields(callbacks), next);
    },
    async saveOutboxes(writes) {
      const written = await repository.saveOutboxes(writes);
      writes.forEach((w, i) => {
        if (written[i]) known(w.shopId, w.paymentId)?.setCallbacks(callbackFields(w.callbacks), w.nextCallbackAt);
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
function withScansFromMemory(repository: PaymentRepository, all: () => Promise<Iterable<PaymentEntry> | undefined>, filling: () => boolean): PaymentRepository {
  const read = async (found: PaymentEntry[]) =>
    (await Promise.all(found.map((e) => repository.findPayment(e.shopId, e.paymentId)))).filter((p): p is PaymentRecord => p !== null);
  const pick = (entries: Iterable<PaymentEntry>, wanted: (e: PaymentEntry) => boolean) => {
    const out: PaymentEntry[] = [];
    for (const e of entries) if (wanted(e)) out.push(e);
    return out;
  };
  return {
    ...repository,
    async findDueCallbacks(now, limit, skipShops = []) {
      const entries = await all();
      if (!entries) return repository.findDueCallbacks(now, limit, skipShops);
      const due = pick(entries, (e) => e.nextCallbackMs !== undefined && e.nextCallbackMs <= now.getTime() && !skipShops.includes(e.shopId));
      due.sort((a, b) => a.nextCallbackMs! - b.nextCallbackMs!);
      return read(due.slice(0, limit));
    },
    async findStalePayments(states, before, limit) {
      const entries = await all();
      if (!entries) return repository.findStalePayments(states, before, limit);
      const stale = pick(entries, (e) => states.includes(e.state) && e.updatedMs < before.getTime());
      stale.sort((a, b) => a.updatedMs - b.updatedMs);
      return read(stale.slice(0, limit));
    },
    async countCallbacks() {
      if (filling()) throw new Error("the payment index is still filling");
      const entries = await all();
      if (!entries) return repository.countCallbacks();
      let pending = 0;
      let parked = 0;
      for (const e of entries) {
        if (e.nextCallbackMs !== undefined) pending++;
        if (e.callbacksParked) parked++;
      }
      return { pending, parked };
    },
  };
}
