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
  if (guard.refundInFlightId !== undefined) filter["refundsInFlight.id"] = guard.refundInFlightId;
  return filter;
}

export function createPaymentRepository(db: Db): PaymentRepository {
  const payments = db.collection<PaymentRecord>("payments");
  const operations = (kind: OperationKind) => db.collection<OperationRecord>(collectionOf[kind]);
  return {
    claimPayment: (record) => claim(payments, record),
    findPayment: (shopId, paymentId) => payments.findOne({ _id: paymentId, shopId }),
    async updatePayment(shopId, paymentId, guard, change) {
      const push: Record<string, unknown> = { timeline: change.event };
      const set: Record<string, unknown> = { ...change.set, updatedAt: change.event.at };
      if (change.callback) {
        push.callbacks = change.callback;
        set.nextCallbackAt = change.event.at;
      }
      if (change.addRefundInFlight) push.refundsInFlight = change.addRefundInFlight;
      const update: UpdateFilter<PaymentRecord> = { $set: set as never, $push: push as never };
      if (change.inc) update.$inc = change.inc;
      if (change.removeRefundInFlight !== undefined) update.$pull = { refundsInFlight: { id: change.removeRefundInFlight } } as never;
      return payments.findOneAndUpdate(guardFilter(shopId, paymentId, guard), update, { returnDocument: "after" });
    },
    claimOperation: (record) => claim(operations(record.kind), record),
    findOperation: (kind, shopId, id) => operations(kind).findOne({ _id: id, shopId }),
    finishOperation: (kind, shopId, id, set) =>
      operations(kind).findOneAndUpdate({ _id: id, shopId, state: "processing" }, { $set: { ...set, updatedAt: new Date() } }, { returnDocument: "after" }),
    async deleteOperation(kind, shopId, id) {
      await operations(kind).deleteOne({ _id: id, shopId, state: "processing" });
    },
    findPaymentByIdempotencyKey: (idempotencyKey) => payments.findOne({ idempotencyKey }),
    findDueCallbacks: (now, limit, skipShops = []) =>
      payments
        .find({ nextCallbackAt: { $lte: now }, ...(skipShops.length ? { shopId: { $nin: [...skipShops] } } : {}) })
        .sort({ nextCallbackAt: 1 })
        .limit(limit)
        .toArray(),
    async saveCallbacks(shopId, paymentId, callbacks, nextCallbackAt) {
      await payments.updateOne({ _id: paymentId, shopId }, { $set: { callbacks, nextCallbackAt } });
    },
    findParkedCallbacks: (shopId, limit) =>
      payments.find({ "callbacks.state": "parked", ...(shopId ? { shopId } : {}) }).sort({ updatedAt: 1 }).limit(limit).toArray(),
    findStalePayments: (states, before, limit) =>
      payments.find({ state: { $in: [...states] }, updatedAt: { $lt: before } }).sort({ updatedAt: 1 }).limit(limit).toArray(),
    findStaleOperations: (kind, before, limit) =>
      operations(kind).find({ state: "processing", updatedAt: { $lt: before } }).sort({ updatedAt: 1 }).limit(limit).toArray(),
  };
}
