import { MongoServerError, type Collection, type Db, type Filter, type UpdateFilter } from "mongodb";
import type {
  ClaimResult,
  OperationKind,
  OperationRecord,
  PaymentGuard,
  PaymentRecord,
  PaymentRepository,
} from "../payments/records.js";

const collectionOf: Record<OperationKind, string> = { capture: "captures", void: "voids", refund: "refunds" };

function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000;
}

/** Inserts `record`; when its _id is taken, returns the record that holds it. */
async function claim<T extends { _id: string }>(collection: Collection<T>, record: T): Promise<ClaimResult<T>> {
  try {
    await collection.insertOne(record as never);
    return { inserted: true, record };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const existing = await collection.findOne({ _id: record._id } as never);
    if (!existing) throw err;
    return { inserted: false, record: existing as T };
  }
}

/** The guard becomes part of the update's filter: one conditional single-document update. */
function guardFilter(shopId: string, paymentId: string, guard: PaymentGuard): Filter<PaymentRecord> {
  const filter: Filter<PaymentRecord> = { _id: paymentId, shopId };
  if (guard.states) filter.state = { $in: [...guard.states] };
  if (guard.idle) filter.activeOperation = null;
  if (guard.activeOperationId !== undefined) filter["activeOperation.id"] = guard.activeOperationId;
  if (guard.refundableAtLeast !== undefined) filter.refundableMinor = { $gte: guard.refundableAtLeast };
  return filter;
}

export function createPaymentRepository(db: Db): PaymentRepository {
  const payments = db.collection<PaymentRecord>("payments");
  const operations = (kind: OperationKind) => db.collection<OperationRecord>(collectionOf[kind]);
  return {
    claimPayment: (record) => claim(payments, record),
    findPayment: (shopId, paymentId) => payments.findOne({ _id: paymentId, shopId }),
    async updatePayment(shopId, paymentId, guard, change) {
      const update: UpdateFilter<PaymentRecord> = {
        $set: { ...change.set, updatedAt: change.event.at },
        $push: { timeline: change.event },
      };
      if (change.inc) update.$inc = change.inc;
      return payments.findOneAndUpdate(guardFilter(shopId, paymentId, guard), update, { returnDocument: "after" });
    },
    claimOperation: (record) => claim(operations(record.kind), record),
    findOperation: (kind, shopId, id) => operations(kind).findOne({ _id: id, shopId }),
    finishOperation: (kind, shopId, id, set) =>
      operations(kind).findOneAndUpdate({ _id: id, shopId, state: "processing" }, { $set: { ...set, updatedAt: new Date() } }, { returnDocument: "after" }),
    async deleteOperation(kind, shopId, id) {
      await operations(kind).deleteOne({ _id: id, shopId, state: "processing" });
    },
  };
}
