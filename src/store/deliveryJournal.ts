import type { Collection, Db } from "mongodb";
import type { CallbackRecord, OutboxWrite, PaymentRecord, PaymentRepository } from "../payments/records.js";
import type { PaymentSummary } from "../payments/paymentListing.js";
import { createPeriodicTask } from "../runtime/periodicTask.js";
import { randomId } from "../runtime/randomIds.js";
import { journaled } from "./journaledRepository.js";
import { createUnfoldedDeliveries, type Unfolded, type UnfoldedDeliveries } from "./unfoldedDeliveries.js";

export const DELIVERY_JOURNAL_COLLECTION = "callback_deliveries";

/** One batch of deliveries as stored: each fact is one payment's delivered callback, as text. */
interface JournalDoc {
  _id: string;
  at: Date;
  facts: string[];
}

/** One delivery as stored (short names: a journal document holds a batch of them). */
interface Fact {
  /** Shop, payment, callback. */
  s: string;
  p: string;
  i: string;
  /** The delivering attempt: when (ISO), how long, the HTTP status. */
  t: string;
  d: number;
  h?: number;
  /** Nothing of the payment was left pending. */
  n: boolean;
}

export type PaymentLock = <T>(shopId: string, paymentId: string, task: () => Promise<T>) => Promise<T>;

export interface DeliveryJournalOptions {
  /** When a payment's next callback is due (the dispatcher's rule). */
  nextDue: (callbacks: CallbackRecord[]) => Date | null;
  /** Whether `version` is the payment's latest, as the repository's VersionBook knows it. */
  isCurrent: (shopId: string, paymentId: string, version: number | undefined) => boolean;
  /** Folding runs once no payment read or write of the service has been under way for quietMs (false: tests)... */
  foldWhenQuiet?: boolean;
  /** 20 ms by default: the gaps between one client's back-to-back requests are shorter. */
  quietMs?: number;
  /** ...and even under load while more payments than this wait for it. */
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
 * the service has no payment read or write under way (or too much waits), the journal is folded
 * into the payment documents, one at a time, and its documents deleted; a payment written whole in
 * the meantime is folded by that write.
 */
export function createDeliveryJournal(db: Db, opts: DeliveryJournalOptions): DeliveryJournal {
  const journal: Collection<JournalDoc> = db.collection<JournalDoc>(DELIVERY_JOURNAL_COLLECTION);
  const book = createUnfoldedDeliveries(opts.nextDue);
  let active = 0;
  let idleSince = 0;
  const quietMs = opts.quietMs ?? 20;
  let inner: PaymentRepository | undefined;
  let lock: PaymentLock | undefined;

  const loader = createLoader(() => readJournal(journal, book, opts.log));
  const load = loader.load;

  /** Writes what the journal says of one payment into its document (the caller holds its lock). */
  async function fold(shopId: string, paymentId: string): Promise<void> {
    // Only over the whole journal: a load still adding facts could see one forgotten unwritten.
    await loader.ready();
    const p = await inner!.findPayment(shopId, paymentId);
    const after = p && book.apply(p);
    if (after && after !== p) await inner!.saveCallbacks(shopId, paymentId, after.callbacks, after.nextCallbackAt);
    book.forget(shopId, paymentId);
  }

  const folding = createFolding({
    unfolded: book.payments,
    emptied: book.emptied,
    // Not in the sub-millisecond gap between one request and the next: a fold there holds
    // the database's writer and the payment's lock when that request arrives.
    quiet: () => active === 0 && opts.foldWhenQuiet !== false && performance.now() - idleSince >= quietMs,
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
        busy(by) {
          active += by;
          if (active === 0) idleSince = performance.now();
        },
        append: (writes, current) => appendFacts(journal, book, writes, current),
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
async function appendFacts(
  journal: Collection<JournalDoc>,
  book: UnfoldedDeliveries,
  writes: readonly OutboxWrite[],
  current: readonly boolean[],
): Promise<void> {
  const _id = `d_${Date.now().toString(36)}_${randomId(6, "hex")}`;
  const facts: Fact[] = [];
  for (const [i, w] of writes.entries())
    for (const id of w.deliveries ?? []) {
      // The write delivered this callback and changed nothing else: its last attempt is the one.
      const last = w.callbacks.find((c) => c.id === id)?.attempts.at(-1);
      if (!last) continue;
      // "Nothing left pending" only from the latest version: an older copy lacks what was queued since.
      const n = current[i] === true && w.nextCallbackAt === null;
      const fact: Fact = { s: w.shopId, p: w.paymentId, i: id, t: new Date(last.at).toISOString(), d: last.durationMs, n };
      if (last.httpStatus) fact.h = last.httpStatus;
      facts.push(fact);
    }
  await journal.insertOne({ _id, at: new Date(), facts: facts.map((f) => JSON.stringify(f)) });
  for (const f of facts) noteFact(book, _id, f);
}

function noteFact(book: UnfoldedDeliveries, journalId: string, f: Fact): void {
  const at = Date.parse(f.t);
  if (typeof f.s !== "string" || typeof f.p !== "string" || typeof f.i !== "string" || Number.isNaN(at)) throw new Error("not a delivery fact");
  book.note(f.s, f.p, journalId, { callbackId: f.i, at, durationMs: f.d, ...(f.h ? { httpStatus: f.h } : {}) }, f.n);
}

/** Reads every journal document into the book; a fact that cannot be read is logged and left out. */
async function readJournal(journal: Collection<JournalDoc>, book: UnfoldedDeliveries, log: (e: Record<string, unknown>) => void) {
  for await (const doc of journal.find({})) {
    let noted = 0;
    for (const text of doc.facts ?? []) {
      try {
        noteFact(book, doc._id, JSON.parse(text) as Fact);
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

/** The fold: while quiet (or over the bound), payments into their documents, then empty journal documents away. */
function createFolding(parts: {
  unfolded: Map<string, Unfolded>;
  emptied: Set<string>;
  quiet: () => boolean;
  maxUnfolded: number;
  fold: (u: Unfolded) => Promise<void>;
  drop: (journalId: string) => Promise<unknown>;
  log: (e: Record<string, unknown>) => void;
}) {
  /** Folded since the journal was last empty, and since when: one log line per backlog. */
  let backlog = { folded: 0, since: 0 };
  async function pass(): Promise<void> {
    // Over the bound, down to 90% of it even under load; otherwise only between requests.
    const floor = parts.unfolded.size > parts.maxUnfolded ? Math.floor(parts.maxUnfolded * 0.9) : Infinity;
    // Oldest first (a Map keeps insertion order), one at a time: the requests come first. One
    // payment that cannot be folded is passed over, not left in front of all the others.
    let failures = 0;
    for (const u of [...parts.unfolded.values()]) {
      if (!task.running || failures >= 3 || !(parts.quiet() || parts.unfolded.size > floor)) break;
      try {
        await parts.fold(u);
        if (!backlog.folded++) backlog.since = Date.now();
      } catch (err) {
        failures++;
        parts.log({ level: "error", msg: "delivery journal fold failed", shopId: u.shopId, paymentId: u.paymentId, error: String(err) });
      }
    }
    for (const id of [...parts.emptied]) if (task.running) await parts.drop(id);
    if (backlog.folded && !parts.unfolded.size) {
      parts.log({ level: "info", msg: "delivery journal folded", payments: backlog.folded, ms: Date.now() - backlog.since });
      backlog = { folded: 0, since: 0 };
    }
  }
  // Sooner while some wait: the next gap between requests may be short.
  const task = createPeriodicTask(
    pass,
    () => (parts.unfolded.size ? 100 : 1000),
    (err) => parts.log({ level: "error", msg: "delivery journal fold failed", error: String(err) }),
  );
  return { start: () => task.start(), stop: () => task.stop() };
}
