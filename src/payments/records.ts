import type { Money } from "./money.js";

/** Our richer payment state (design §2.5); status.ts maps it to Genstore's four values. */
export type PaymentState =
  | "received"
  | "requires_action"
  | "authorized"
  | "captured"
  | "partially_refunded"
  | "refunded"
  | "voided"
  | "declined"
  | "failed"
  | "unknown";

/** What we keep of a card: never the number or the CVV. */
export interface CardSummary {
  brand: string;
  last4: string;
  expiryMonth: number;
  expiryYear: number;
}

export interface PaymentRecord {
  /** Genstore's paymentId: the unique _id is the claim that answers duplicates once. */
  _id: string;
  shopId: string;
  method: "card" | "offsite";
  amount: Money;
  test: boolean;
  manualCapture: boolean;
  state: PaymentState;
  /** Hash of the parameters that define the payment, to tell a retry from a conflicting reuse. */
  requestHash: string;
  channelPaymentId: string;
  card?: CardSummary;
  /** Where the buyer is sent for 3-D Secure or the hosted page. */
  actionUrl?: string;
  returnUrl?: string;
  cancelUrl?: string;
  error?: string;
  createdAt: Date;
  updatedAt: Date;
}

export type OperationKind = "capture" | "void" | "refund";
export type OperationState = "processing" | "succeeded" | "failed";

/** A capture, void or refund attempt, keyed by Genstore's id for it. */
export interface OperationRecord {
  _id: string;
  shopId: string;
  kind: OperationKind;
  paymentId: string;
  amount?: Money;
  test: boolean;
  state: OperationState;
  requestHash: string;
  channelId: string;
  error?: string;
  createdAt: Date;
  updatedAt: Date;
}

export type ClaimResult<T> = { inserted: true; record: T } | { inserted: false; record: T };

/** Storage the use cases need; src/store implements it on MongoDB. */
export interface PaymentRepository {
  /** Inserts the payment unless its _id exists; then returns the existing one. */
  claimPayment(record: PaymentRecord): Promise<ClaimResult<PaymentRecord>>;
  findPayment(shopId: string, paymentId: string): Promise<PaymentRecord | null>;
  claimOperation(record: OperationRecord): Promise<ClaimResult<OperationRecord>>;
  findOperation(kind: OperationKind, shopId: string, id: string): Promise<OperationRecord | null>;
}
