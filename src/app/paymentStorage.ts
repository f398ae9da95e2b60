import type { Db } from "mongodb";
import { createOpenOperations, scanOpenOperations } from "../store/openOperations.js";
import { createPaymentIndex } from "../store/paymentIndex.js";
import { createPaymentQueries, scanSummaries } from "../store/paymentListing.js";
import { createPaymentRepository } from "../store/paymentRepository.js";

/**
 * Payments: the repository, and the operators' listing. On the embedded FerretDB (no atomic
 * conditional updates) owned by this one instance, listings and the background scans come from
 * in-memory indexes kept by the repository's writes (the payments, and the operations still
 * processing); on MongoDB, and on a FerretDB other instances write to too (the indexes would miss
 * their writes), from queries.
 */
export function paymentStorage(opts: { db: Db; atomicConditionalUpdates: boolean; scaleOut?: unknown }) {
  const stored = createPaymentRepository(opts.db, { atomicConditionalUpdates: opts.atomicConditionalUpdates, sharedDatabase: opts.scaleOut !== undefined });
  const queries = createPaymentQueries(opts.db);
  if (opts.atomicConditionalUpdates || opts.scaleOut) return { payments: stored, listing: queries, index: undefined };
  const index = createPaymentIndex(queries, () => scanSummaries(opts.db));
  const open = createOpenOperations(() => scanOpenOperations(opts.db));
  const load = async () => {
    await Promise.all([index.load(), open.load().catch((err: unknown) => Promise.reject(new Error(`open operations: ${String(err)}`)))]);
  };
  return { payments: open.observe(index.observe(stored)), listing: index, index: { load } };
}
