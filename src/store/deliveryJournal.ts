import { randomBytes } from "node:crypto";
import type { Collection, Db } from "mongodb";
import type { CallbackRecord, OutboxWrite, PaymentRecord, PaymentRepository } from "../payments/records.js";
import { encodeCallback } from "./storedEntries.js";
import { createUnfoldedDeliveries, type Unfolded, type UnfoldedDeliveries } from "./unfoldedDeliveries.js";

export const DELIVERY_JOURNAL_COLLECTION = "callback_deliveries";

/** One batch of deliveries as stored: each fact is one payment's delivered callback, as text. */
interface JournalDoc {
  _id: string;
  at: Date;
  facts: string[];
}

interface Fact {
  s: string;
  p: string;
  c: string;
  /** Nothing of the payment was left pending. */
  n: boolean;
}

export type PaymentLock = <T>(shopId: string, paymentId: string, task: () => Promise<T>) => Promise<T>;

export interface DeliveryJournalOptions {
  /** When a payment's next callback is due (the dispatcher's rule). */
  nextDue: (callbacks: CallbackRecord[]) => Date | null;
  /** Folding runs after this long without a payment write... */
  idleMs?: number;
  /** ...or under load while more payments than this wait for it. */
  maxUnfolded?: number;
  log: (e: Record<string, unknown>) => void;
}

export interface DeliveryJournal {
  /** Wraps a repository: deliveries go to the journal, and every payment read sees them. */
  observe(repository: PaymentRepository): PaymentRepository;
  /** Reads the journal (once, or again after a failure); reads of payments wait for it. */
  load(): Promise<void>;
  /** A stored payment with the journal's deliveries applied (the record itself if none). */
  apply(p: PaymentRecord): PaymentRecord;
  /** Starts folding the journal into payment documents, each under its payment's lock. */
  start(lock: PaymentLock): void;
  stop(): Promise<void>;
  /** Payments with deliveries not yet folded into their documents. */
  readonly unfolded: number;
}

/**
 * The delivery journal (decisions.md D11), for the embedded FerretDB owned by this instance. A
 * delivered callback was one rewrite of its payment's document: on FerretDB each document write
 * is a read, a re-encoding of the whole document and its own SQLite transaction, about 45% of
 * its CPU per card payment. Here the deliveries of one batch are one inserted document instead,
 * and this process keeps what they say in memory and lays it over every payment it reads. When
 * the service is idle (or too much waits), the journal is folded into the payment documents and
 * its documents deleted; a payment written whole in the meantime is folded by that write.
 */
export function createDeliveryJournal(db: Db, opts: DeliveryJournalOptions): DeliveryJournal {
  const journal: Collection<JournalDoc> = db.collection<JournalDoc>(DELIVERY_JOURNAL_COLLECTION);
  const book = createUnfoldedDeliveries(opts.nextDue);
  let loaded = false;
  let loading: Promise<void> | undefined;
  let lastWrite = 0;
  let inner: PaymentRepository | undefined;

  const load = (): Promise<void> =>
    (loading ??= (async () => {
      for await (const doc of journal.find({})) {
        for (const text of doc.facts) {
          const f = JSON.parse(text) as Fact;
          book.note(f.s, f.p, doc._id, (JSON.parse(f.c) as { id: string }).id, f.c, f.n);
        }
        if (!doc.facts.length) book.emptied.add(doc._id);
      }
      loaded = true;
      if (book.payments.size) opts.log({ level: "info", msg: "delivery journal loaded", payments: book.payments.size, documents: book.journalDocuments });
    })().catch((err: unknown) => {
      loading = undefined; // the next read tries again
      throw err;
    }));

  /** The journal's part of saveOutboxes: one document for every delivery of the batch. */
  async function append(writes: readonly OutboxWrite[]): Promise<void> {
    const _id = `d_${Date.now().toString(36)}_${randomBytes(6).toString("hex")}`;
    const facts: { w: OutboxWrite; id: string; cb: string }[] = [];
    for (const w of writes)
      for (const id of w.deliveries ?? []) {
        const cb = w.callbacks.find((c) => c.id === id);
        if (cb) facts.push({ w, id, cb: encodeCallback(cb) });
      }
    await journal.insertOne({
      _id,
      at: new Date(),
      facts: facts.map(({ w, cb }) => JSON.stringify({ s: w.shopId, p: w.paymentId, c: cb, n: w.nextCallbackAt === null } satisfies Fact)),
    });
    for (const { w, id, cb } of facts) book.note(w.shopId, w.paymentId, _id, id, cb, w.nextCallbackAt === null);
  }

  const folding = createFolding({
    unfolded: book.payments,
    emptied: book.emptied,
    idle: () => Date.now() - lastWrite >= (opts.idleMs ?? 2000),
    maxUnfolded: opts.maxUnfolded ?? 20_000,
    fold: async (u) => {
      const p = await inner!.findPayment(u.shopId, u.paymentId);
      const after = p && book.apply(p);
      if (after && after !== p) await inner!.saveCallbacks(u.shopId, u.paymentId, after.callbacks, after.nextCallbackAt);
      book.forget(u.shopId, u.paymentId);
    },
    drop: (id) => journal.deleteOne({ _id: id }).then(() => book.emptied.delete(id)),
    log: opts.log,
  });

  return {
    load,
    apply: book.apply,
    start: (lock) => folding.start(lock),
    stop: () => folding.stop(),
    get unfolded() {
      return book.payments.size;
    },
    observe(repository) {
      inner = repository;
      return journaled(repository, book, {
        ready: async () => {
          if (!loaded) await load();
        },
        wrote: () => {
          lastWrite = Date.now();
        },
        append,
        soon: () => folding.soon(),
      });
    },
  };
}

/** The repository with deliveries journaled and every payment it returns seen through the journal. */
function journaled(
  repository: PaymentRepository,
  book: UnfoldedDeliveries,
  journal: { ready(): Promise<void>; wrote(): void; append(writes: readonly OutboxWrite[]): Promise<void>; soon(): void },
): PaymentRepository {
  const { ready, wrote } = journal;
  const applied = <T extends PaymentRecord | null>(p: T): T => (p ? (book.apply(p) as T) : p);
  return {
    ...repository,
    async claimPayment(record) {
      await ready();
      wrote();
      const r = await repository.claimPayment(record);
      return r.inserted ? r : { inserted: false, record: book.apply(r.record) };
    },
    findPayment: async (shopId, paymentId) => (await ready(), applied(await repository.findPayment(shopId, paymentId))),
    async updatePayment(shopId, paymentId, guard, change, current) {
      await ready();
      wrote();
      const p = await repository.updatePayment(shopId, paymentId, guard, change, current);
      if (p && change.callback) book.pending(shopId, paymentId);
      return applied(p);
    },
    findPaymentByIdempotencyKey: async (key) => (await ready(), applied(await repository.findPaymentByIdempotencyKey(key))),
    findParkedCallbacks: async (shopId, limit) => (await ready(), (await repository.findParkedCallbacks(shopId, limit)).map(book.apply)),
    findStalePayments: async (states, before, limit) => (await ready(), (await repository.findStalePayments(states, before, limit)).map(book.apply)),
    async findDueCallbacks(now, limit, skipShops) {
      await ready();
      // The database still finds journaled payments due: fold them soon, hand over the rest.
      const found = (await repository.findDueCallbacks(now, limit, skipShops)).map(book.apply);
      const due = found.filter((p) => p.nextCallbackAt && p.nextCallbackAt <= now);
      if (due.length < found.length) journal.soon();
      return due;
    },
    async saveCallbacks(shopId, paymentId, callbacks, next) {
      await repository.saveCallbacks(shopId, paymentId, callbacks, next);
      book.forget(shopId, paymentId); // the whole outbox, as read with the journal, is in the document
    },
    async saveOutboxes(writes) {
      await ready();
      const toJournal = writes.filter((w) => w.deliveries?.length);
      const whole = writes.filter((w) => !w.deliveries?.length);
      const [written] = await Promise.all([whole.length ? repository.saveOutboxes(whole) : [], toJournal.length ? journal.append(toJournal) : undefined]);
      whole.forEach((w, i) => written[i] && book.forget(w.shopId, w.paymentId));
      let next = 0;
      return writes.map((w) => (w.deliveries?.length ? true : written[next++]!));
    },
    async countCallbacks() {
      const counts = await repository.countCallbacks();
      return { ...counts, pending: Math.max(0, counts.pending - book.clearCount()) };
    },
  };
}

/** The fold: while idle (or over the bound), payments into their documents, then empty journal documents away. */
function createFolding(parts: {
  unfolded: Map<string, Unfolded>;
  emptied: Set<string>;
  idle: () => boolean;
  maxUnfolded: number;
  fold: (u: Unfolded) => Promise<void>;
  drop: (journalId: string) => Promise<unknown>;
  log: (e: Record<string, unknown>) => void;
}) {
  let lock: PaymentLock | undefined;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> | undefined;
  let urgent = false;
  const schedule = (ms: number) => {
    if (!lock || pass) return;
    clearTimeout(timer);
    timer = setTimeout(run, ms);
    timer.unref();
  };
  function run(): void {
    pass = (async () => {
      const started = Date.now();
      // Over the bound, down to 90% of it even under load; otherwise only while idle.
      const floor = parts.unfolded.size > parts.maxUnfolded ? Math.floor(parts.maxUnfolded * 0.9) : Infinity;
      const wanted = () => urgent || parts.idle() || parts.unfolded.size > floor;
      let folded = 0;
      // Oldest first (a Map keeps insertion order), one at a time: the requests come first.
      for (const u of parts.unfolded.values()) {
        if (!lock || !wanted()) break;
        await lock(u.shopId, u.paymentId, () => parts.fold(u));
        folded++;
      }
      for (const id of [...parts.emptied]) if (lock) await parts.drop(id);
      urgent = false;
      if (folded) parts.log({ level: "info", msg: "delivery journal folded", payments: folded, left: parts.unfolded.size, ms: Date.now() - started });
    })()
      .catch((err: unknown) => parts.log({ level: "error", msg: "delivery journal fold failed", error: String(err) }))
      .finally(() => {
        pass = undefined;
        schedule(1000);
      });
  }
  return {
    start(l: PaymentLock) {
      lock = l;
      schedule(1000);
    },
    soon() {
      urgent = true;
      schedule(0);
    },
    async stop() {
      lock = undefined;
      clearTimeout(timer);
      await pass;
    },
  };
}
