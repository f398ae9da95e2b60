import type { CardSummary } from "../crypto/cardData.js";
import type { Money } from "./money.js";

export type { CardSummary };

/** Our richer payment state (decisions.md D5); status.ts maps it to Genstore's four values. */
export type PaymentState =
  "received" | "requires_action" | "pending" | "authorized" | "captured" | "partially_refunded" | "refunded" | "voided" | "declined" | "failed" | "unknown";

/** One entry of a payment's history: what happened, when, from which request. */
export interface TimelineEvent {
  at: Date;
  event: string;
  requestId?: string;
  state?: PaymentState;
  operation?: { kind: OperationKind; id: string };
  detail?: string;
}

export type CallbackKind = "payment" | "pre_authorize" | "capture" | "void" | "refund";

/** One try at delivering a callback. */
export interface CallbackAttempt {
  at: Date;
  /** HTTP status, when Genstore answered. */
  httpStatus?: number;
  /** Network error, timeout, or the start of Genstore's error body. */
  error?: string;
  durationMs: number;
}

/**
 * A result for Genstore's Update * result API, kept on the payment it belongs to (the outbox):
 * written in the same update as the state change it reports, and never changed after.
 */
export interface CallbackRecord {
  /** `${kind}:${targetId}`: one result per payment, pre-authorization or operation. */
  id: string;
  kind: CallbackKind;
  /** paymentId, or the captureId / voidId / refundId. */
  targetId: string;
  body: Record<string, unknown>;
  state: "pending" | "delivered" | "parked";
  attempts: CallbackAttempt[];
  nextAttemptAt: Date | null;
  createdAt: Date;
  deliveredAt?: Date;
  parkedReason?: string;
  /** Set when an operator redelivers: the retry window starts again from here. */
  retryFrom?: Date;
}

export interface PaymentRecord {
  /** Genstore's paymentId: the unique _id is the claim that answers duplicates once. */
  _id: string;
  shopId: string;
  method: "card" | "offsite";
  amount: Money;
  test: boolean;
  manualCapture: boolean;
  /** Whether the PSP was asked to capture at once (manualCapture read with the shop's setting). */
  captureAtOnce: boolean;
  state: PaymentState;
  /** Hash of the parameters that define the payment, to tell a retry from a conflicting reuse. */
  requestHash: string;
  psp: string;
  /** Sent with every PSP call for this payment; stable across retries and crashes. */
  idempotencyKey: string;
  /** The PSP's id for the payment: Genstore's channelPaymentId. */
  channelPaymentId: string;
  card?: CardSummary;
  /** Where the buyer is sent for 3-D Secure or the hosted page. */
  actionUrl?: string;
  returnUrl?: string;
  cancelUrl?: string;
  error?: string;
  authorizedMinor: number;
  capturedMinor: number;
  /** Captured, less refunded, less refunds in flight: what a new refund may take. */
  refundableMinor: number;
  refundReservedMinor: number;
  refundedMinor: number;
  /** A capture or void in flight holds the payment; nothing else may capture or void it. */
  activeOperation: { kind: "capture" | "void"; id: string } | null;
  /** Refunds sent to the PSP and not settled yet; their amounts are in refundReservedMinor. */
  refundsInFlight: { id: string; minor: number }[];
  timeline: TimelineEvent[];
  /** The outbox: results for Genstore, delivered in this order. */
  callbacks: CallbackRecord[];
  /** When the dispatcher should look at this payment next; null when nothing is pending. */
  nextCallbackAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Bumped by every change of the payment (not by the outbox's delivery bookkeeping). */
  version?: number;
}

/** One payment's outbox after delivery attempts, written only if the payment is still at `version`. */
export interface OutboxWrite {
  shopId: string;
  paymentId: string;
  version: number | undefined;
  callbacks: CallbackRecord[];
  nextCallbackAt: Date | null;
  /**
   * Set when the write's only change is these callbacks becoming delivered: a repository may
   * then record just that (the delivery journal) instead of rewriting the payment.
   */
  deliveries?: string[];
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
  idempotencyKey: string;
  /** The PSP's id for the operation (channelCaptureId / channelVoidId / channelRefundId). */
  channelId: string;
  error?: string;
  requestId?: string;
  createdAt: Date;
  updatedAt: Date;
}

export type ClaimResult<T> = { inserted: true; record: T } | { inserted: false; record: T };

/** Conditions a payment must meet for a change to apply (checked in the same update). */
export interface PaymentGuard {
  states?: readonly PaymentState[];
  /** No capture or void is in flight. */
  idle?: boolean;
  /** The capture or void in flight is this one. */
  activeOperationId?: string;
  refundableAtLeast?: number;
  /** This refund is still in flight (settling it twice is impossible). */
  refundInFlightId?: string;
}

export interface PaymentChange {
  set?: Partial<Omit<PaymentRecord, "_id" | "shopId" | "timeline" | "callbacks" | "refundsInFlight">>;
  inc?: Partial<Record<"refundableMinor" | "refundReservedMinor" | "refundedMinor", number>>;
  event: TimelineEvent;
  /** A result for Genstore, written in the same update (transactional outbox). */
  callback?: CallbackRecord;
  addRefundInFlight?: { id: string; minor: number };
  /** The exact entry added for it (FerretDB pulls array elements by equality only). */
  removeRefundInFlight?: { id: string; minor: number };
  /** Its answer went out already: no one waits for the write, which may queue behind others. Not stored. */
  answered?: boolean;
}

/** Storage the use cases need; src/store implements it on MongoDB. */
export interface PaymentRepository {
  /** Inserts the payment unless its _id exists; then returns the existing one. */
  claimPayment(record: PaymentRecord): Promise<ClaimResult<PaymentRecord>>;
  findPayment(shopId: string, paymentId: string): Promise<PaymentRecord | null>;
  /**
   * Applies `change` only if the payment meets `guard`; returns the changed payment or null.
   * `current`: the payment as last read under its lock, which spares a read where the guard is
   * checked by us (FerretDB).
   */
  updatePayment(shopId: string, paymentId: string, guard: PaymentGuard, change: PaymentChange, current?: PaymentRecord): Promise<PaymentRecord | null>;
  claimOperation(record: OperationRecord): Promise<ClaimResult<OperationRecord>>;
  findOperation(kind: OperationKind, shopId: string, id: string): Promise<OperationRecord | null>;
  /**
   * Changes an operation that is still processing; returns it, or null if it was already final.
   * `current`: the operation as last read under its payment's lock (spares a read on FerretDB).
   */
  finishOperation(kind: OperationKind, shopId: string, id: string, set: Partial<OperationRecord>, current?: OperationRecord): Promise<OperationRecord | null>;
  deleteOperation(kind: OperationKind, shopId: string, id: string): Promise<void>;
  findPaymentByIdempotencyKey(idempotencyKey: string): Promise<PaymentRecord | null>;
  /** A capture, void or refund by the idempotency key it was sent to the PSP with. */
  findOperationByIdempotencyKey(idempotencyKey: string): Promise<OperationRecord | null>;
  /** Payments whose outbox needs a look at or before `now`, other than those of `skipShops`. */
  findDueCallbacks(now: Date, limit: number, skipShops?: readonly string[]): Promise<PaymentRecord[]>;
  /**
   * Replaces the outbox after a delivery attempt (the caller holds the payment's lock). `changed`:
   * an operator's change (a redelivery) of the payment read at version `from`; the version is then
   * bumped, so that an attempt recorded meanwhile from an older copy reads the payment again
   * instead of writing its outbox back over the change.
   */
  saveCallbacks(shopId: string, paymentId: string, callbacks: CallbackRecord[], nextCallbackAt: Date | null, changed?: { from: number }): Promise<void>;
  /**
   * Writes several payments' outboxes in one go, each only if its payment has not changed since
   * the version given (the caller holds their locks); false for those that changed (or are not
   * known to be unchanged without a read): the caller reads them and writes again.
   */
  saveOutboxes(writes: readonly OutboxWrite[]): Promise<boolean[]>;
  findParkedCallbacks(shopId: string | undefined, limit: number): Promise<PaymentRecord[]>;
  /** Payments in `states` last changed before `before`, for reconciliation. */
  findStalePayments(states: readonly PaymentState[], before: Date, limit: number): Promise<PaymentRecord[]>;
  findStaleOperations(kind: OperationKind, before: Date, limit: number): Promise<OperationRecord[]>;
  /** For metrics: payments with callbacks still to deliver, and with parked ones. */
  countCallbacks(): Promise<{ pending: number; parked: number }>;
}
