import type { Db } from "mongodb";
import { nextDue } from "../callbacks/retryPolicy.js";
import { pspIdempotencyKey } from "../payments/idempotencyKeys.js";
import { createDeliveryJournal, type DeliveryJournalOptions } from "../store/deliveryJournal.js";
import { createOpenOperations, scanOpenOperations } from "../store/openOperations.js";
import { createVersionBook } from "../store/outboxWrites.js";
import { cachedOperations } from "../store/operationCache.js";
import { cachedPayments, createPaymentCache } from "../store/paymentCache.js";
import { createPaymentIndex } from "../store/paymentIndex.js";
import { createPaymentQueries, scanSummaries } from "../store/paymentListing.js";
import { createPaymentRepository } from "../store/paymentRepository.js";
import { createSentWrites } from "../store/sentWrites.js";

/**
 * Payments: the repository, and the operators' listing. On the embedded FerretDB (no atomic
 * conditional updates) owned by this one instance, listings and the background scans come from
 * in-memory indexes kept by the repository's writes (the payments, and the operations still
 * processing), and delivered callbacks go to the delivery journal; on MongoDB, and on a FerretDB
 * other instances write to too (the indexes would miss their writes), from queries, and a
 * delivery is written into its payment.
 */
export function paymentStorage(opts: { db: Db; atomicConditionalUpdates: boolean; scaleOut?: unknown; log: (e: Record<string, unknown>) => void }) {
  if (opts.atomicConditionalUpdates || opts.scaleOut) {
    const stored = createPaymentRepository(opts.db, { atomicConditionalUpdates: opts.atomicConditionalUpdates, sharedDatabase: opts.scaleOut !== undefined });
    return { payments: stored, listing: createPaymentQueries(opts.db), index: undefined, journal: undefined };
  }
  const { stored, journal } = journaledStorage(opts.db, { log: opts.log });
  // Filled from the payments with the journal laid over (it waits for the journal to be read).
  const index = createPaymentIndex(createPaymentQueries(opts.db, journal.apply), () => journal.summaries((patch) => scanSummaries(opts.db, patch)));
  const open = createOpenOperations(() => scanOpenOperations(opts.db));
  // Settled both: the caller starts folding after this, and must not while the index still reads.
  const load = async () => {
    const [indexed, opened] = await Promise.allSettled([index.load(), open.load()]);
    if (indexed.status === "rejected") throw indexed.reason;
    if (opened.status === "rejected") throw new Error(`open operations: ${String(opened.reason)}`);
  };
  return { payments: open.observe(index.observe(journal.observe(stored))), listing: index, index: { load }, journal };
}

/** The repository on a FerretDB this instance owns, with the delivery journal beside it (sharing its VersionBook). */
export function journaledStorage(db: Db, opts: Pick<DeliveryJournalOptions, "log" | "foldWhenQuiet" | "maxUnfolded" | "quietMs">) {
  const versions = createVersionBook(false);
  const sent = createSentWrites();
  // 2,000 payments of at most 16 K characters (64 MB at worst, as V8 holds text outside Latin-1
  // in two bytes a character; a few MB as payments go): those a capture, a refund or a delivery is
  // about to read again; and the 2,000 operations written last (a few hundred bytes each), which
  // a "get refund" reads.
  const stored = cachedOperations(
    cachedPayments(createPaymentRepository(db, { atomicConditionalUpdates: false, versions, sent }), createPaymentCache(2_000), sent),
    createPaymentCache(2_000, 4 * 1024),
  );
  const journal = createDeliveryJournal(db, {
    ...opts,
    nextDue,
    isCurrent: (shopId, paymentId, version) => versions.current(pspIdempotencyKey("payment", shopId, paymentId)) === (version ?? 0),
  });
  return { stored, journal };
}
