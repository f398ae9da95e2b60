import type { Db } from "mongodb";
import type { OperationKind, OperationRecord, PaymentRepository } from "../payments/records.js";
import { collectionOf, fromStored, type Stored } from "./paymentRepository.js";

interface Open {
  kind: OperationKind;
  shopId: string;
  id: string;
  updatedAt: Date;
}

const keyOf = (kind: OperationKind, shopId: string, id: string) => `${kind}\u0000${shopId}\u0000${id}`;

/** Every capture, void and refund still processing, read once at start-up (a full read of each collection). */
export async function* scanOpenOperations(db: Db): AsyncIterable<OperationRecord> {
  for (const kind of Object.keys(collectionOf) as OperationKind[])
    for await (const d of db.collection<Stored<OperationRecord>>(collectionOf[kind]).find({ state: "processing" })) yield fromStored<OperationRecord>(d)!;
}

export interface OpenOperations {
  /** Reads the processing operations once; until it has, the reconciler's scan waits for it. */
  load(): Promise<void>;
  /** Wraps a repository so that its operation writes keep the set, and its stale-operation scan reads it. */
  observe(repository: PaymentRepository): PaymentRepository;
}

/**
 * The captures, voids and refunds still processing, kept in memory where the payment index is (the
 * embedded FerretDB, owned by this one instance, which sees every write). The reconciler asks for
 * stale ones every RECONCILE_INTERVAL_MS; FerretDB answers that filter by reading and decoding each
 * collection whole, a cost that grows with every operation ever made. From here, only the few
 * still processing are read, by _id. If the load failed, the database answers as before.
 */
export function createOpenOperations(scan: () => AsyncIterable<OperationRecord>): OpenOperations {
  const open = new Map<string, Open>();
  let loaded = false;
  let loading: Promise<void> | undefined;
  const note = (op: OperationRecord) => {
    const key = keyOf(op.kind, op.shopId, op._id);
    if (op.state === "processing") open.set(key, { kind: op.kind, shopId: op.shopId, id: op._id, updatedAt: new Date(op.updatedAt) });
    else open.delete(key);
  };
  return {
    load() {
      loading ??= (async () => {
        // A write while this reads may be older here than in the set: the set keeps its own.
        for await (const op of scan()) if (!open.has(keyOf(op.kind, op.shopId, op._id))) note(op);
        loaded = true;
      })();
      return loading;
    },
    observe: (repository) => ({
      ...repository,
      async claimOperation(record) {
        const r = await repository.claimOperation(record);
        if (r.inserted) note(r.record);
        return r;
      },
      async finishOperation(kind, shopId, id, set, current) {
        const r = await repository.finishOperation(kind, shopId, id, set, current);
        if (r) note(r);
        else open.delete(keyOf(kind, shopId, id)); // already final
        return r;
      },
      async deleteOperation(kind, shopId, id) {
        await repository.deleteOperation(kind, shopId, id);
        open.delete(keyOf(kind, shopId, id));
      },
      async findStaleOperations(kind, before, limit) {
        if (!loaded) await loading?.catch(() => {});
        if (!loaded) return repository.findStaleOperations(kind, before, limit);
        const stale = [...open.values()]
          .filter((o) => o.kind === kind && o.updatedAt < before)
          .sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime())
          .slice(0, limit);
        const found: OperationRecord[] = [];
        for (const o of stale) {
          const op = await repository.findOperation(o.kind, o.shopId, o.id);
          // Gone or final since (a write the load raced with): no longer open.
          if (op?.state === "processing") found.push(op);
          else open.delete(keyOf(o.kind, o.shopId, o.id));
        }
        return found;
      },
    }),
  };
}
