import { createHash } from "node:crypto";
import type { Collection, Db } from "mongodb";
import { isDuplicateKey } from "../../runtime/databaseErrors.js";

/** The sandbox PSP's own books, in its own collection, so they outlive our restarts. */
export type ChargeStatus = "requires_action" | "pending" | "authorized" | "captured" | "declined" | "voided" | "cancelled";
export type OperationStatus = "succeeded" | "failed";

export interface LedgerEntry {
  /**
   * Charges: their reference ("ch_…"); operations: "op_…". Both derive from the merchant and the
   * idempotency key, so the same key from the same merchant is the same request, found by _id.
   */
  _id: string;
  /** `${merchant}/${idempotency key}`. */
  key: string;
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
  /**
   * Charges waiting on a hosted page: the secret in that page's URL. The reference is no secret
   * (Genstore and the merchant see it as the channel payment id) and derives from the payment id:
   * without this, anyone could open another shop's checkout or challenge and decide it.
   */
  pageToken?: string;
  /** Asynchronous approval happens at this time. */
  settlesAt?: Date;
  capturedAmount?: number;
  refundedAmount?: number;
  /** Charges: what the sandbox was told of the order, without the buyer's personal data. */
  order?: OrderSummary;
  createdAt: Date;
  updatedAt: Date;
}

/** The order as the sandbox keeps it: the items, the countries, and which details it was given. */
export interface OrderSummary {
  items: { name: string; quantity: number; unitMinor: number }[];
  /** Names of the buyer's details received ("email", "billing.line1", "client.ipAddress", …), not their values. */
  fields: string[];
  billingCountry?: string;
  shippingCountry?: string;
}

/** The _id of what the sandbox books for this merchant and key: a charge or an operation. */
export function ledgerId(type: "charge" | "operation", merchant: string, key: string): string {
  return `${type === "charge" ? "ch" : "op"}_${createHash("sha256").update(`${merchant}/${key}`).digest("hex").slice(0, 24)}`;
}

export interface SandboxLedger {
  /** Inserts the entry unless its _id exists; returns what holds the _id. */
  claim(entry: LedgerEntry): Promise<{ inserted: boolean; entry: LedgerEntry }>;
  byKey(type: "charge" | "operation", merchant: string, key: string): Promise<LedgerEntry | null>;
  /** A charge by its reference (its _id). */
  byReference(reference: string): Promise<LedgerEntry | null>;
  update(id: string, set: Partial<LedgerEntry>): Promise<void>;
  /** Every entry, for tests and operators that audit the sandbox's effects. */
  all(filter?: Partial<Pick<LedgerEntry, "type" | "merchant" | "chargeReference" | "status">>): Promise<LedgerEntry[]>;
}

export const SANDBOX_LEDGER_COLLECTION = "sandbox_ledger";

export function createSandboxLedger(db: Db): SandboxLedger {
  // Every lookup is by _id: the only query the embedded FerretDB answers from an index.
  const entries: Collection<LedgerEntry> = db.collection<LedgerEntry>(SANDBOX_LEDGER_COLLECTION);
  return {
    async claim(entry) {
      try {
        await entries.insertOne(entry);
        return { inserted: true, entry };
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const existing = await entries.findOne({ _id: entry._id });
        if (!existing) throw err;
        return { inserted: false, entry: existing };
      }
    },
    byKey: (type, merchant, key) => entries.findOne({ _id: ledgerId(type, merchant, key) }),
    byReference: (reference) => (reference.startsWith("ch_") ? entries.findOne({ _id: reference }) : Promise.resolve(null)),
    async update(id, set) {
      await entries.updateOne({ _id: id }, { $set: { ...set, updatedAt: new Date() } });
    },
    all: (filter = {}) => entries.find(filter).sort({ createdAt: 1 }).toArray(),
  };
}
