import type { Db } from "mongodb";
import { nextDue } from "../callbacks/retryPolicy.js";
import { createDeliveryJournal, type DeliveryJournal } from "../store/deliveryJournal.js";
import { createOpenOperations, scanOpenOperations } from "../store/openOperations.js";
import { createPaymentIndex } from "../store/paymentIndex.js";
import { createPaymentQueries, scanSummaries } from "../store/paymentListing.js";
import { createPaymentRepository } from "../store/paymentRepository.js";

/**
 * Payments: the repository, and the operators' listing. On the embedded FerretDB (no atomic
 * conditional updates) owned by this one instance, listings and the background scans come from
 * in-memory indexes kept by the repository's writes (the payments, and the operations still
 * processing), and delivered callbacks go to the delivery journal; on MongoDB, and on a FerretDB
 * other instances write to too (the indexes would miss their writes), from queries, and a
 * delivery is written into its payment.
 */
export function paymentStorage(opts: { db: Db; atomicConditionalUpdates: boolean; scaleOut?: unknown; log: (e: Record<string, unknown>) => void }) {
  const stored = createPaymentRepository(opts.db, { atomicConditionalUpdates: opts.atomicConditionalUpdates, sharedDatabase: opts.scaleOut !== undefined });
  if (opts.atomicConditionalUpdates || opts.scaleOut) return { payments: stored, listing: createPaymentQueries(opts.db), index: undefined, journal: undefined };
  const journal: DeliveryJournal = createDeliveryJournal(opts.db, { nextDue, log: opts.log });
  const index = createPaymentIndex(createPaymentQueries(opts.db, journal.apply), () => scanSummaries(opts.db, journal.apply));
  const open = createOpenOperations(() => scanOpenOperations(opts.db));
  const load = async () => {
    // The summaries are read with the journal laid over them.
    await journal.load();
    await Promise.all([index.load(), open.load().catch((err: unknown) => Promise.reject(new Error(`open operations: ${String(err)}`)))]);
  };
  return { payments: open.observe(index.observe(journal.observe(stored))), listing: index, index: { load }, journal };
}
