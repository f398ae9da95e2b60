import type { Collection } from "mongodb";
import type { OutboxWrite, PaymentRecord } from "../payments/records.js";
import { createBoundedMap } from "../runtime/boundedMap.js";
import type { StatementBudget } from "./statementBudget.js";
import { storedOutbox } from "./storedEntries.js";

/**
 * On the embedded FerretDB a filter on anything but _id scans the whole collection, so "only if
 * the payment is still at version V" cannot go into the update's filter. One instance owns that
 * database (decisions.md D11) and every change of a payment goes through it, so the highest
 * version it has seen of a payment is the payment's version: kept here, an outbox write needs no
 * read. Unknown (never seen, or forgotten) means "read it first". On MongoDB the version is in
 * the filter instead, atomic across instances. Instances sharing a FerretDB (`shared`) cannot know
 * each other's writes: every version is unknown, and the outbox write reads first, under the
 * payment's lease.
 */
export interface VersionBook {
  /** Notes the version of a payment just read or written; returns the record. */
  seen<T extends PaymentRecord | null>(key: string | null, record: T): T;
  current(key: string): number | undefined;
  readonly inFilter: boolean;
}

export function createVersionBook(atomicConditionalUpdates: boolean, shared = false): VersionBook {
  const known = createBoundedMap<string, number>({ maxEntries: 200_000 });
  return {
    inFilter: atomicConditionalUpdates,
    seen(key, record) {
      if (!atomicConditionalUpdates && !shared && key && record) {
        // Versions only grow: a read that returns after a newer write must not lower it.
        const v = record.version ?? 0;
        if ((known.get(key) ?? -1) < v) known.set(key, v);
      }
      return record;
    },
    current: (key) => known.get(key),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the stored shape is the repository's
type Payments = Collection<any>;

/** Several payments' outboxes in one command (one `update` with a statement each); see VersionBook. */
export async function saveOutboxes(
  collection: Payments,
  versions: VersionBook,
  writes: readonly (OutboxWrite & { key: string })[],
  budget?: StatementBudget,
): Promise<boolean[]> {
  const set = (w: OutboxWrite) => ({ $set: { ...storedOutbox(w.callbacks), nextCallbackAt: w.nextCallbackAt } });
  if (versions.inFilter) {
    // Per statement, so that each one's match is known.
    return Promise.all(
      writes.map(
        async (w) => (await collection.updateOne({ _id: w.key, shopId: w.shopId, version: w.version ?? { $exists: false } }, set(w))).matchedCount === 1,
      ),
    );
  }
  const fresh = writes.map((w) => versions.current(w.key) === (w.version ?? 0));
  const ops = writes.filter((_, i) => fresh[i]).map((w) => ({ updateOne: { filter: { _id: w.key }, update: set(w) } }));
  // At most 64 statements to a command: FerretDB holds a connection for each (statementBudget.ts).
  for (let i = 0; i < ops.length; i += 64) {
    const chunk = ops.slice(i, i + 64);
    const write = () => collection.bulkWrite(chunk, { ordered: false });
    await (budget ? budget.run(chunk.length, write) : write());
  }
  return fresh;
}
