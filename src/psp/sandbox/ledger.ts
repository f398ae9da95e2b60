import { MongoServerError, type Collection, type Db } from "mongodb";

/** The sandbox PSP's own books, in its own collection, so they outlive our restarts. */
export type ChargeStatus = "requires_action" | "pending" | "authorized" | "captured" | "declined" | "voided" | "cancelled";
export type OperationStatus = "succeeded" | "failed";

export interface LedgerEntry {
  /** `${merchant}/${idempotency key}`: the same key from the same merchant is the same request. */
  _id: string;
  merchant: string;
  mode: "test" | "live";
  type: "charge" | "capture" | "void" | "refund";
  reference: string;
  /** For capture, void and refund: the charge they act on. */
  chargeReference?: string;
  amount: number;
  currency: string;
  requestHash: string;
  status: ChargeStatus | OperationStatus;
  reason?: string;
  /** Charges: whether approval captures at once. */
  capture?: boolean;
  flow?: "card" | "offsite";
  cardLast4?: string;
  refundsFail?: boolean;
  returnUrl?: string;
  /** Asynchronous approval happens at this time. */
  settlesAt?: Date;
  capturedAmount?: number;
  refundedAmount?: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface SandboxLedger {
  /** Inserts the entry unless its key exists; returns what holds the key. */
  claim(entry: LedgerEntry): Promise<{ inserted: boolean; entry: LedgerEntry }>;
  byKey(merchant: string, key: string): Promise<LedgerEntry | null>;
  byReference(reference: string): Promise<LedgerEntry | null>;
  update(id: string, set: Partial<LedgerEntry>): Promise<void>;
  /** Every entry, for tests and operators that audit the sandbox's effects. */
  all(filter?: Partial<Pick<LedgerEntry, "type" | "merchant" | "chargeReference" | "status">>): Promise<LedgerEntry[]>;
}

export const SANDBOX_LEDGER_COLLECTION = "sandbox_ledger";

export function createSandboxLedger(db: Db): SandboxLedger {
  const entries: Collection<LedgerEntry> = db.collection<LedgerEntry>(SANDBOX_LEDGER_COLLECTION);
  void entries.createIndex({ reference: 1 }).catch(() => {});
  return {
    async claim(entry) {
      try {
        await entries.insertOne(entry);
        return { inserted: true, entry };
      } catch (err) {
        if (!(err instanceof MongoServerError && err.code === 11000)) throw err;
        const existing = await entries.findOne({ _id: entry._id });
        if (!existing) throw err;
        return { inserted: false, entry: existing };
      }
    },
    byKey: (merchant, key) => entries.findOne({ _id: `${merchant}/${key}` }),
    byReference: (reference) => entries.findOne({ reference }),
    async update(id, set) {
      await entries.updateOne({ _id: id }, { $set: { ...set, updatedAt: new Date() } });
    },
    all: (filter = {}) => entries.find(filter).sort({ createdAt: 1 }).toArray(),
  };
}
