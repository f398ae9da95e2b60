import type { Filter } from "mongodb";
import type { OperationRecord, PaymentRecord, PaymentRepository } from "../payments/records.js";
import { fromStored, type Operations, type Payments, type Stored } from "./storedRecords.js";
import { hasParkedCallback, storedOutbox } from "./storedEntries.js";

/** The outbox and the scans of background work (dispatcher, reconciler, metrics, operators). */
export function outboxAndScans(
  payments: Payments,
  operations: Operations,
  /** The filter of one payment; what to note when an operator's change bumped its version. */
  byPayment: { filter: (shopId: string, paymentId: string) => object; bumped: (shopId: string, paymentId: string, version: number) => void },
): Pick<PaymentRepository, "findDueCallbacks" | "saveCallbacks" | "findParkedCallbacks" | "findStalePayments" | "countCallbacks" | "findStaleOperations"> {
  return {
    async findDueCallbacks(now, limit, skipShops = []) {
      const docs = await payments
        .find({ nextCallbackAt: { $lte: now }, ...(skipShops.length ? { shopId: { $nin: [...skipShops] } } : {}) })
        .sort({ nextCallbackAt: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => fromStored<PaymentRecord>(d)!);
    },

    async saveCallbacks(shopId, paymentId, callbacks, nextCallbackAt, changed) {
      const set = { $set: { ...storedOutbox(callbacks), nextCallbackAt } as never };
      await payments.updateOne(byPayment.filter(shopId, paymentId), changed ? { ...set, $inc: { version: 1 } as never } : set);
      if (changed) byPayment.bumped(shopId, paymentId, changed.from + 1);
    },

    async findParkedCallbacks(shopId, limit) {
      const docs = await payments
        .find({ ...hasParkedCallback, ...(shopId ? { shopId } : {}) } as Filter<Stored<PaymentRecord>>)
        .sort({ updatedAt: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => fromStored<PaymentRecord>(d)!);
    },

    async findStalePayments(states, before, limit) {
      const docs = await payments
        .find({ state: { $in: [...states] }, updatedAt: { $lt: before } })
        .sort({ updatedAt: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => fromStored<PaymentRecord>(d)!);
    },

    async countCallbacks() {
      const [pending, parked] = await Promise.all([
        payments.countDocuments({ nextCallbackAt: { $ne: null } }),
        payments.countDocuments(hasParkedCallback as Filter<Stored<PaymentRecord>>),
      ]);
      return { pending, parked };
    },

    async findStaleOperations(kind, before, limit) {
      const docs = await operations(kind)
        .find({ state: "processing", updatedAt: { $lt: before } })
        .sort({ updatedAt: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => fromStored<OperationRecord>(d)!);
    },
  };
}
