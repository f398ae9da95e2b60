import type { OperationKind, OperationRecord, PaymentRepository } from "../payments/records.js";
import { pspIdempotencyKey } from "../payments/idempotencyKeys.js";
import { cacheWrites, type PaymentCache } from "./paymentCache.js";
import { fromStored, toStored, type Stored } from "./storedRecords.js";

/**
 * The repository of the embedded FerretDB that only this instance writes to, reading the captures,
 * voids and refunds it wrote last from memory: a Genstore "get refund" follows its refund at once,
 * and on FerretDB that read waited behind the writes for one of the two connections (25 ms at the
 * median in the bench's lifecycle, against 2 ms for the payment it reads from memory).
 *
 * As for payments (paymentCache.ts): only writes fill it, each with the record it left, and every
 * write drops its entry first, so a failed one leaves none. A claim that found the id taken, and a
 * finish that changed nothing (already final), leave the entry as it was. The records are kept as
 * stored, and each read gets its own copy (paymentCache.ts). Never for MongoDB, nor a shared database.
 */
export function cachedOperations(repository: PaymentRepository, cache: PaymentCache): PaymentRepository {
  const keyOf = (kind: OperationKind, shopId: string, id: string) => `${kind}\u0000${shopId}\u0000${id}`;
  const stored = (op: OperationRecord) => toStored(op, pspIdempotencyKey(op.kind, op.shopId, op._id));
  const { write } = cacheWrites(cache);
  return {
    ...repository,
    claimOperation(record) {
      return write(
        keyOf(record.kind, record.shopId, record._id),
        () => repository.claimOperation(record),
        (before, claimed) => (claimed.inserted ? stored(claimed.record) : before),
      );
    },
    async findOperation(kind, shopId, id) {
      const hit = fromStored<OperationRecord>((cache.get(keyOf(kind, shopId, id)) ?? null) as Stored<OperationRecord> | null);
      return hit && hit.shopId === shopId ? hit : repository.findOperation(kind, shopId, id);
    },
    finishOperation(kind, shopId, id, set, current) {
      return write(
        keyOf(kind, shopId, id),
        () => repository.finishOperation(kind, shopId, id, set, current),
        (before, finished) => (finished ? stored(finished) : before),
      );
    },
    deleteOperation(kind, shopId, id) {
      return write(
        keyOf(kind, shopId, id),
        () => repository.deleteOperation(kind, shopId, id),
        () => undefined,
      );
    },
  };
}
