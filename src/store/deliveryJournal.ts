import { randomBytes } from "node:crypto";
import type { Collection, Db } from "mongodb";
import type { CallbackRecord, OutboxWrite, PaymentRecord, PaymentRepository } from "../payments/records.js";
import type { PaymentSummary } from "../payments/paymentListing.js";
import { encodeCallback } from "./storedEntries.js";
import { journaled } from "./journaledRepository.js";
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
  /** Whether `version` is the payment's latest, as the repository's VersionBook knows it. */
  isCurrent: (shopId: string, paymentId: string, version: number | undefined) => boolean;
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
  /** Stored payments' summaries with the journal laid over (filling the console's index). */
  summaries(scan: (patch: (p: PaymentRecord) => PaymentRecord) => AsyncIterable<PaymentSummary>): AsyncIterable<PaymentSummary>;
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
  let lastWrite = 0;
  let inner: PaymentRepository | undefined;
  let lock: PaymentLock | undefined;

  const loader = createLoader(() => readJournal(journal, book, opts.log));
  const load = loader.load;

  /** Writes what the journal says of one payment into its document (the caller holds its lock). */
  async function fold(shopId: string, paymentId: string): Promise<void> {
    const p = await inner!.findPayment(shopId, paymentId);
    const after = p && book.apply(p);
    if (after && after !== p) await inner!.saveCallbacks(shopId, paymentId, after.callbacks, after.nextCallbackAt);
    book.forget(shopId, paymentId);
  }

  const folding = createFolding({
    unfolded: book.payments,
    emptied: book.emptied,
    idle: () => Date.now() - lastWrite >= (opts.idleMs ?? 2000),
    maxUnfolded: opts.maxUnfolded ?? 20_000,
    fold: (u) => lock!(u.shopId, u.paymentId, () => fold(u.shopId, u.paymentId)),
    drop: (id) => journal.deleteOne({ _id: id }).then(() => book.emptied.delete(id)),
    log: opts.log,
  });

  return {
    load,
    apply: book.apply,
    async *summaries(scan) {
      await load();
      const done = book.beginRead();
      try {
        yield* scan(book.apply);
      } finally {
        done();
      }
    },
    start(l) {
      lock = l;
      folding.start();
    },
    async stop() {
      lock = undefined;
      await folding.stop();
    },
    get unfolded() {
      return book.payments.size;
    },
    observe(repository) {
      inner = repository;
      return journaled(repository, book, {
        ready: loader.ready,
        wrote: () => void (lastWrite = Date.now()),
        append: (writes) => appendFacts(journal, book, writes),
        isCurrent: opts.isCurrent,
        async foldNow(list) {
          for (const p of list) {
            if (!lock) return false;
            await lock(p.shopId, p._id, () => fold(p.shopId, p._id));
          }
          return lock !== undefined;
        },
      });
    },
  };
}

/** Runs `read` once it succeeds: again at the next call after a failure. */
function createLoader(read: () => Promise<void>) {
  let loaded = false;
  let loading: Promise<void> | undefined;
  const load = (): Promise<void> =>
    (loading ??= read().then(
      () => {
        loaded = true;
      },
      (err: unknown) => {
        loading = undefined;
        throw err;
      },
    ));
  return {
    load,
    ready: async () => {
      if (!loaded) await load();
    },
  };
}

/** The journal's part of saveOutboxes: one document for every delivery of the batch. */
async function appendFacts(journal: Collection<JournalDoc>, book: UnfoldedDeliveries, writes: readonly OutboxWrite[]): Promise<void> {
  const _id = `d_${Date.now().toString(36)}_${randomBytes(6).toString("hex")}`;
  const facts: { w: OutboxWrite; id: string; cb: string; clear: boolean }[] = [];
  for (const w of writes)
    for (const id of w.deliveries ?? []) {
      const cb = w.callbacks.find((c) => c.id === id);
      if (cb) facts.push({ w, id, cb: encodeCallback(cb), clear: w.nextCallbackAt === null });
    }
  await journal.insertOne({
    _id,
    at: new Date(),
    facts: facts.map(({ w, cb, clear }) => JSON.stringify({ s: w.shopId, p: w.paymentId, c: cb, n: clear } satisfies Fact)),
  });
  for (const f of facts) book.note(f.w.shopId, f.w.paymentId, _id, f.id, f.cb, f.clear);
}

/** Reads every journal document into the book; a fact that cannot be read is logged and left out. */
async function readJournal(journal: Collection<JournalDoc>, book: UnfoldedDeliveries, log: (e: Record<string, unknown>) => void) {
  for await (const doc of journal.find({})) {
    let noted = 0;
    for (const text of doc.facts ?? []) {
      try {
        const f = JSON.parse(text) as Fact;
        book.note(f.s, f.p, doc._id, (JSON.parse(f.c) as { id: string }).id, f.c, f.n);
        noted++;
      } catch (err) {
        // Left out, its callback may be sent once more (at least once): better than no reads at all.
        log({ level: "error", msg: "delivery journal fact unreadable", journalId: doc._id, error: String(err) });
      }
    }
    if (!noted) book.emptied.add(doc._id);
  }
  if (book.payments.size) log({ level: "info", msg: "delivery journal loaded", payments: book.payments.size, documents: book.journalDocuments });
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
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> | undefined;
  const schedule = () => {
    if (!running) return;
    timer = setTimeout(run, 1000);
    timer.unref();
  };
  function run(): void {
    pass = (async () => {
      const started = Date.now();
      // Over the bound, down to 90% of it even under load; otherwise only while idle.
      const floor = parts.unfolded.size > parts.maxUnfolded ? Math.floor(parts.maxUnfolded * 0.9) : Infinity;
      let folded = 0;
      // Oldest first (a Map keeps insertion order), one at a time: the requests come first.
      for (const u of parts.unfolded.values()) {
        if (!running || !(parts.idle() || parts.unfolded.size > floor)) break;
        await parts.fold(u);
        folded++;
      }
      for (const id of [...parts.emptied]) if (running) await parts.drop(id);
      if (folded) parts.log({ level: "info", msg: "delivery journal folded", payments: folded, left: parts.unfolded.size, ms: Date.now() - started });
    })()
      .catch((err: unknown) => parts.log({ level: "error", msg: "delivery journal fold failed", error: String(err) }))
      .finally(() => {
        pass = undefined;
        schedule();
      });
  }
  return {
    start() {
      running = true;
      schedule();
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      await pass;
    },
  };
}
