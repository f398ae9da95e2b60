import { operationCallback, paymentCallback } from "./callbackBody.js";
import type { OperationOutcome, PaymentOutcome } from "../psp/connector.js";
import type { CallbackRecord, OperationRecord, PaymentChange, PaymentGuard, PaymentRecord, PaymentRepository, PaymentState, TimelineEvent } from "./records.js";
import { noObserver, type PaymentObserver } from "./observer.js";
import { canMove, openStates, statesBefore } from "./stateMachine.js";

/**
 * Who caused a change: the request (or the job) it came from, for the timeline.
 * Callers hold the payment's lock and pass the payment as last read under it.
 */
export interface Cause {
  requestId: string;
}

export interface OutcomeRecorder {
  /**
   * Moves a payment by a PSP outcome; an outcome that would move it backwards is ignored.
   * `answer`, if given, hears the payment as the move leaves it once the write is queued, before it lands.
   */
  applyPaymentOutcome(p: PaymentRecord, outcome: PaymentOutcome, cause: Cause, event: string, answer?: (moved: PaymentRecord) => void): Promise<PaymentRecord>;
  /** Fails a payment whose outcome never came (expired 3-D Secure or checkout). */
  failPayment(p: PaymentRecord, reason: string, cause: Cause): Promise<PaymentRecord>;
  /**
   * Records the PSP's answer to a capture, void or refund on the payment, then on the operation.
   * `current`: the payment as read or written under its lock since the PSP call, which saves a read.
   */
  settleOperation(op: OperationRecord, outcome: OperationOutcome, cause: Cause, current?: PaymentRecord | null): Promise<OperationRecord | null>;
}

/** The state a PSP outcome puts a payment in, and what we record with it. */
function outcomeChange(p: PaymentRecord, outcome: PaymentOutcome): { to: PaymentState; set: Partial<PaymentRecord> } {
  const reference = "reference" in outcome && outcome.reference ? { channelPaymentId: outcome.reference } : {};
  switch (outcome.kind) {
    case "approved":
      return { to: "captured", set: { ...reference, authorizedMinor: p.amount.minor, capturedMinor: p.amount.minor, refundableMinor: p.amount.minor } };
    case "authorized":
      return { to: "authorized", set: { ...reference, authorizedMinor: p.amount.minor } };
    case "requires_action":
      return { to: "requires_action", set: { ...reference, actionUrl: outcome.url } };
    case "pending":
      return { to: "pending", set: reference };
    case "declined":
      return { to: "declined", set: { ...reference, error: outcome.reason } };
    case "unknown":
      return { to: "unknown", set: reference };
    case "absent":
      // The PSP has no trace of it: nothing was or will be charged (the use cases decide when this is final).
      return { to: "declined", set: { error: outcome.reason } };
  }
}

/** The result Genstore must hear of when a payment enters `to`, if any (decisions.md D7). */
function paymentResult(p: PaymentRecord, to: PaymentState, error: string | undefined, at: Date): CallbackRecord | undefined {
  if (to === "captured") return paymentCallback(p, "payment", true, undefined, at);
  if (to === "authorized") return paymentCallback(p, "pre_authorize", true, undefined, at);
  if (to === "declined" || to === "failed") return paymentCallback(p, "payment", false, error, at);
  return undefined;
}

/**
 * How many payments may be answered while their writes have yet to land. A database slower than
 * the requests then slows the answers, instead of gathering an ever longer queue of answered,
 * unwritten payments (the embedded FerretDB's batched updates let the answers run ahead).
 */
export const MAX_ANSWERS_AHEAD = 32;

interface RecorderDeps {
  /** Answered writes not landed yet. */
  ahead: { count: number };
  repository: PaymentRepository;
  log: (e: Record<string, unknown>) => void;
  now: () => Date;
  onCallbackQueued: (shopId: string, paymentId: string, snapshot: PaymentRecord) => void;
  observer: Pick<PaymentObserver, "paymentFinal">;
}

/** Moves a payment to `to` with its callback, if the state machine allows and something changes. */
async function move(
  d: RecorderDeps,
  p: PaymentRecord,
  to: PaymentState,
  set: Partial<PaymentRecord>,
  cause: Cause,
  event: string,
  detail?: string,
  answer?: (moved: PaymentRecord) => void,
): Promise<PaymentRecord> {
  // Nothing new (a final state again, or an open one with the same details): no write, so
  // repeated status queries (Get payment, buyers' returns) never grow the payment.
  if (p.state === to && (!openStates.includes(to) || Object.entries(set).every(([k, v]) => p[k as keyof PaymentRecord] === v))) return p;
  if (!canMove(p.state, to)) {
    d.log({ level: "warn", msg: "ignored an outcome that would move a payment backwards", paymentId: p._id, shopId: p.shopId, from: p.state, to });
    return p;
  }
  const at = d.now();
  const callback = p.state === to ? undefined : paymentResult({ ...p, ...set }, to, detail ?? set.error, at);
  // Under the lock, the guard holds for what was just read: the write lands as sent, or fails
  // (the caller's lock holds until it is done; a crash leaves the payment to the reconciler).
  // Past MAX_ANSWERS_AHEAD answered writes still to land, the answer waits for its own.
  const early = answer && d.ahead.count < MAX_ANSWERS_AHEAD ? answer : undefined;
  const change: PaymentChange = {
    set: { ...set, state: to },
    event: { at, event, requestId: cause.requestId, state: to, ...(detail ? { detail } : {}) },
    ...(callback ? { callback } : {}),
    ...(early ? { answered: true } : {}),
  };
  const written = d.repository.updatePayment(p.shopId, p._id, { states: [p.state, ...statesBefore(to)] }, change, p);
  if (early) d.ahead.count++;
  try {
    early?.({ ...p, ...change.set });
  } catch (err) {
    d.ahead.count--;
    throw err;
  }
  const updated = await (early ? answeredWrite(d, p, to, written).finally(() => d.ahead.count--) : written);
  if (updated && callback) d.onCallbackQueued(p.shopId, p._id, updated);
  if (updated && !openStates.includes(to) && p.state !== to) d.observer.paymentFinal(to);
  return updated ?? (await d.repository.findPayment(p.shopId, p._id)) ?? p;
}

/** The write after its answer went out: if it does not land, the operator hears what was answered. */
async function answeredWrite(d: RecorderDeps, p: PaymentRecord, to: PaymentState, written: Promise<PaymentRecord | null>): Promise<PaymentRecord | null> {
  const lost = (why: string) =>
    d.log({
      level: "error",
      msg: "a payment was answered but its result was not written; reconciliation will settle it",
      paymentId: p._id,
      shopId: p.shopId,
      answered: to,
      error: why,
    });
  try {
    const updated = await written;
    if (!updated) lost("the payment had changed under its lock");
    return updated;
  } catch (err) {
    lost(String(err));
    throw err;
  }
}

/** What a final operation result does to its payment, guarded by the hold the operation took. */
function operationChange(
  op: OperationRecord,
  p: PaymentRecord,
  succeeded: boolean,
  callback: CallbackRecord,
  event: TimelineEvent,
): { guard: PaymentGuard; change: PaymentChange } {
  const minor = op.amount?.minor ?? p.amount.minor;
  if (op.kind === "refund") {
    const to: PaymentState = p.refundedMinor + minor >= p.capturedMinor ? "refunded" : "partially_refunded";
    const removeRefundInFlight = { id: op._id, minor };
    return {
      guard: { refundInFlightId: op._id },
      change: succeeded
        ? { inc: { refundReservedMinor: -minor, refundedMinor: minor }, set: { state: to }, removeRefundInFlight, callback, event: { ...event, state: to } }
        : { inc: { refundReservedMinor: -minor, refundableMinor: minor }, removeRefundInFlight, callback, event },
    };
  }
  const set: Partial<PaymentRecord> = !succeeded
    ? { activeOperation: null }
    : op.kind === "capture"
      ? { state: "captured", activeOperation: null, capturedMinor: minor, refundableMinor: minor }
      : { state: "voided", activeOperation: null };
  return { guard: { activeOperationId: op._id }, change: { set, callback, event: { ...event, ...(set.state ? { state: set.state } : {}) } } };
}

/** A capture, void or refund the PSP has not decided: the payment stays held until reconciliation learns it. */
async function leaveOpen(
  d: RecorderDeps,
  op: OperationRecord,
  p: PaymentRecord,
  outcome: OperationOutcome & { kind: "pending" | "unknown" },
  cause: Cause,
): Promise<OperationRecord> {
  const detail = outcome.kind === "unknown" ? { detail: outcome.reason } : {};
  await d.repository.updatePayment(
    p.shopId,
    p._id,
    {},
    { event: { at: d.now(), event: `${op.kind} ${outcome.kind}`, requestId: cause.requestId, operation: { kind: op.kind, id: op._id }, ...detail } },
    p,
  );
  return outcome.reference ? ((await d.repository.finishOperation(op.kind, op.shopId, op._id, { channelId: outcome.reference })) ?? op) : op;
}

/** Records the PSP's answer to a capture, void or refund on the payment (with its callback), then on the operation. */
async function settleOperation(
  d: RecorderDeps,
  op: OperationRecord,
  outcome: OperationOutcome,
  cause: Cause,
  current?: PaymentRecord | null,
): Promise<OperationRecord | null> {
  const p = current ?? (await d.repository.findPayment(op.shopId, op.paymentId));
  if (!p) return op;
  if (outcome.kind === "pending" || outcome.kind === "unknown") return leaveOpen(d, op, p, outcome, cause);
  const at = d.now();
  const succeeded = outcome.kind === "succeeded";
  const channelId = outcome.reference ?? op.channelId;
  const error = succeeded ? undefined : outcome.reason;
  const callback = operationCallback(op, channelId, succeeded, error, at);
  const event = {
    at,
    event: `${op.kind} ${succeeded ? "succeeded" : "failed"}`,
    requestId: cause.requestId,
    operation: { kind: op.kind, id: op._id },
    ...(error ? { detail: error } : {}),
  };
  const { guard, change } = operationChange(op, p, succeeded, callback, event);
  // p was read just now under the payment's lock (every caller holds it): no second read.
  let updated = await d.repository.updatePayment(p.shopId, p._id, guard, change, p);
  // The payment was never held for this operation (a crash between claiming and holding),
  // or was settled before: Genstore still hears the result, once.
  if (!updated && !p.callbacks.some((c) => c.id === callback.id)) updated = await d.repository.updatePayment(p.shopId, p._id, {}, { callback, event });
  if (updated) d.onCallbackQueued(p.shopId, p._id, updated);
  // The operation's own record follows; its result is already safe in the outbox.
  const finished = await d.repository.finishOperation(
    op.kind,
    op.shopId,
    op._id,
    { channelId, state: succeeded ? "succeeded" : "failed", ...(error ? { error } : {}) },
    op,
  );
  return finished ?? (await d.repository.findOperation(op.kind, op.shopId, op._id));
}

/**
 * The one place where PSP outcomes change payments and operations. Every final result is
 * written together with its callback, in one single-document update (decisions.md D11).
 */
export function createOutcomeRecorder(
  repository: PaymentRepository,
  log: (e: Record<string, unknown>) => void,
  now: () => Date,
  /** Told after a callback was queued, so that delivery need not wait for a scan. */
  onCallbackQueued: (shopId: string, paymentId: string, snapshot: PaymentRecord) => void = () => {},
  observer: Pick<PaymentObserver, "paymentFinal"> = noObserver,
): OutcomeRecorder {
  const d: RecorderDeps = { ahead: { count: 0 }, repository, log, now, onCallbackQueued, observer };
  return {
    applyPaymentOutcome(p, outcome, cause, event, answer) {
      const { to, set } = outcomeChange(p, outcome);
      const detail = outcome.kind === "declined" || outcome.kind === "unknown" || outcome.kind === "absent" ? outcome.reason : undefined;
      return move(d, p, to, set, cause, event, detail, answer);
    },
    failPayment: (p, reason, cause) => move(d, p, "failed", { error: reason }, cause, "payment expired", reason),
    settleOperation: (op, outcome, cause, current) => settleOperation(d, op, outcome, cause, current),
  };
}
