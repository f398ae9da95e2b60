import type { OutboxWrite, PaymentRecord, PaymentRepository } from "../payments/records.js";
import type { UnfoldedDeliveries } from "./unfoldedDeliveries.js";

export interface JournalParts {
  /** Resolves once the journal is read (reads wait for it). */
  ready(): Promise<void>;
  /** Counts the service's payment reads and writes under way (folding waits for none). */
  busy(by: 1 | -1): void;
  /** `current`: each write is from the payment's latest version (else more may be pending than it shows). */
  append(writes: readonly OutboxWrite[], current: readonly boolean[]): Promise<void>;
  isCurrent(shopId: string, paymentId: string, version: number | undefined): boolean;
  /** Folds these payments now, each under its lock; false when folding is not running. */
  foldNow(payments: readonly PaymentRecord[]): Promise<boolean>;
}

/** How many times the database's due scan is asked again after folding what it found delivered. */
const dueScanRounds = 5;

/**
 * The repository with deliveries journaled, and every payment it returns seen through the
 * journal. Each read is held open in the book while the database answers (see beginRead).
 */
export function journaled(repository: PaymentRepository, book: UnfoldedDeliveries, journal: JournalParts): PaymentRepository {
  const { ready } = journal;
  async function read<T>(query: () => Promise<T>, apply: (found: T) => T): Promise<T> {
    journal.busy(1);
    try {
      await ready();
      const done = book.beginRead();
      try {
        return apply(await query());
      } finally {
        done();
      }
    } finally {
      journal.busy(-1);
    }
  }
  const one = <T extends PaymentRecord | null>(p: T): T => (p ? (book.apply(p) as T) : p);
  const many = (ps: PaymentRecord[]) => ps.map(book.apply);
  return {
    ...repository,
    claimPayment(record) {
      return read(
        () => repository.claimPayment(record),
        (r) => (r.inserted ? r : { inserted: false, record: book.apply(r.record) }),
      );
    },
    findPayment: (shopId, paymentId) => read(() => repository.findPayment(shopId, paymentId), one),
    async updatePayment(shopId, paymentId, guard, change, current) {
      const p = await read(() => repository.updatePayment(shopId, paymentId, guard, change, current), one);
      if (p && change.callback) book.pending(shopId, paymentId);
      return p;
    },
    findPaymentByIdempotencyKey: (key) => read(() => repository.findPaymentByIdempotencyKey(key), one),
    findParkedCallbacks: (shopId, limit) => read(() => repository.findParkedCallbacks(shopId, limit), many),
    findStalePayments: (states, before, limit) => read(() => repository.findStalePayments(states, before, limit), many),
    async findDueCallbacks(now, limit, skipShops) {
      // The database still finds journaled payments due: those are folded here and the scan
      // asked again, so that they cannot stand in front of payments really due.
      for (let round = 1; ; round++) {
        const found = await read(() => repository.findDueCallbacks(now, limit, skipShops), many);
        const due = found.filter((p) => p.nextCallbackAt && p.nextCallbackAt <= now);
        const delivered = found.filter((p) => !due.includes(p));
        // A fold that fails leaves them to the folding passes; the scan still answers.
        const folded = delivered.length > 0 && (await journal.foldNow(delivered).catch(() => false));
        if (due.length || !folded || round === dueScanRounds) return due;
      }
    },
    async saveCallbacks(shopId, paymentId, callbacks, next, changed) {
      await repository.saveCallbacks(shopId, paymentId, callbacks, next, changed);
      book.forget(shopId, paymentId); // the whole outbox, as read with the journal, is in the document
    },
    async saveOutboxes(writes) {
      await ready();
      // A delivery is journaled even from a copy older than the payment (a capture sent while
      // the authorization's callback was on its way): a fact names one callback, laid over the
      // document as it is now. Other writes go whole; from a stale copy those answer false.
      const journaledHere = writes.map((w) => Boolean(w.deliveries?.length));
      const toJournal = writes.filter((_, i) => journaledHere[i]);
      const whole = writes.filter((_, i) => !journaledHere[i]);
      const current = toJournal.map((w) => journal.isCurrent(w.shopId, w.paymentId, w.version));
      // Both settled before an error goes up: the caller releases the payments' locks then.
      const [wrote, appended] = await Promise.allSettled([
        whole.length ? repository.saveOutboxes(whole) : [],
        toJournal.length ? journal.append(toJournal, current) : undefined,
      ]);
      if (wrote.status === "rejected") throw wrote.reason;
      if (appended.status === "rejected") throw appended.reason;
      const written = wrote.value;
      whole.forEach((w, i) => written[i] && book.forget(w.shopId, w.paymentId));
      let next = 0;
      return writes.map((_, i) => journaledHere[i] || written[next++]!);
    },
    async countCallbacks() {
      await ready();
      const counts = await repository.countCallbacks();
      return { ...counts, pending: Math.max(0, counts.pending - book.clearCount()) };
    },
  };
}
