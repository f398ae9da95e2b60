import { MongoServerError, type Collection, type Db } from "mongodb";
import type {
  ClaimResult,
  OperationKind,
  OperationRecord,
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

export function createPaymentRepository(db: Db): PaymentRepository {
  const payments = db.collection<PaymentRecord>("payments");
  const operations = (kind: OperationKind) => db.collection<OperationRecord>(collectionOf[kind]);
  return {
    claimPayment: (record) => claim(payments, record),
    findPayment: (shopId, paymentId) => payments.findOne({ _id: paymentId, shopId }),
    claimOperation: (record) => claim(operations(record.kind), record),
    findOperation: (kind, shopId, id) => operations(kind).findOne({ _id: id, shopId }),
  };
}
