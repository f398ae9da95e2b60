import type { OperationOutcome } from "../../psp/connector.js";
import { failedPrecondition, PaymentError } from "../errors.js";
import { pspIdempotencyKey } from "../idempotencyKeys.js";
import { checkAmountSyntax, parseAmount, type Money } from "../money.js";
import { refuseUnlessAllowed } from "../operationRules.js";
import type { OperationKind, OperationRecord, PaymentRecord } from "../records.js";
import type { Kernel } from "./kernel.js";
import { conflict, requestHash } from "./startPayment.js";
import type { OperationAnswer, OperationRequest, RequestMeta } from "./types.js";

const idNames: Record<OperationKind, string> = { capture: "captureId", void: "voidId", refund: "refundId" };

/** Holds the payment for the operation with a conditional update (decisions.md D11); `p` as read under its lock. */
function reserve(k: Kernel, kind: OperationKind, p: PaymentRecord, op: OperationRecord, meta: RequestMeta): Promise<PaymentRecord | null> {
  const event = { at: k.now(), event: `${kind} requested`, requestId: meta.requestId, operation: { kind, id: op._id } };
  if (kind === "refund") {
    const minor = op.amount?.minor ?? 0;
    return k.repository.updatePayment(
      p.shopId,
      p._id,
      { states: ["captured", "partially_refunded"], refundableAtLeast: minor },
      {
        inc: { refundableMinor: -minor, refundReservedMinor: minor },
        addRefundInFlight: { id: op._id, minor },
        event,
      },
      p,
    );
  }
  return k.repository.updatePayment(p.shopId, p._id, { states: ["authorized"], idle: true }, { set: { activeOperation: { kind, id: op._id } }, event }, p);
}

/**
 * Whether the payment was ever held for this operation: the hold, written before the PSP is
 * called, records "<kind> requested" in the payment's timeline in the same update. (The hold
 * itself is released when the operation settles, so it cannot tell on its own.)
 */
export function wasHeld(p: PaymentRecord, op: OperationRecord): boolean {
  return p.timeline.some((e) => e.operation?.id === op._id && e.operation.kind === op.kind);
}

function newOperation(k: Kernel, meta: RequestMeta, kind: OperationKind, req: OperationRequest, hash: string, amount: Money | undefined): OperationRecord {
  const at = k.now();
  return {
    _id: req.id,
    shopId: meta.shopId,
    kind,
    paymentId: req.paymentId,
    test: req.test,
    state: "processing",
    requestHash: hash,
    idempotencyKey: pspIdempotencyKey(kind, meta.shopId, req.id),
    channelId: "",
    requestId: meta.requestId,
    createdAt: at,
    updatedAt: at,
    ...(amount ? { amount } : {}),
  };
}

/**
 * An operation already claimed under this id: the one to answer with, or null when its claim was
 * void (claimed, never held, so never sent: the service failed between the two writes) and has
 * been deleted, so that the operation starts over. Another payment or other parameters: a conflict.
 * A claim met again right after dropping one (another instance, its lease overlapping ours) is
 * never dropped: that request is answered "retry".
 */
async function claimedBefore(
  k: Kernel,
  meta: RequestMeta,
  req: OperationRequest,
  hash: string,
  payment: PaymentRecord,
  existing: OperationRecord,
  mayDrop = true,
) {
  if (existing.requestHash !== hash || existing.paymentId !== req.paymentId) throw conflict(idNames[existing.kind], req.id);
  if (existing.state !== "processing" || wasHeld(payment, existing)) return existing;
  if (!mayDrop) throw new PaymentError("unavailable", `${idNames[existing.kind]} ${req.id} is being claimed by another request; retry in a few seconds`);
  await k.repository.deleteOperation(existing.kind, meta.shopId, req.id);
  return null;
}

/** Under the payment's lock: the rules, the claim of the id, the hold on the payment, the PSP call. */
async function claimHoldAndCall(k: Kernel, meta: RequestMeta, kind: OperationKind, req: OperationRequest): Promise<OperationRecord | null> {
  // Read once, under the lock: its currency reads the amount, and the rules are checked on it.
  const payment = await k.requirePayment(meta.shopId, req.paymentId);
  const amount = req.amount === undefined ? undefined : amountOf(req.amount, payment);
  const hash = requestHash({ kind, paymentId: req.paymentId, amount: amount?.minor, test: req.test });
  const rules = (p: PaymentRecord) => {
    const c = k.connectorOf(p.psp);
    refuseUnlessAllowed(kind, p, amount, { name: c.name, partialCapture: c.capabilities.partialCapture }, req.test);
    return c;
  };
  // The rules, then the claim, whose unique id finds a retry: a new operation reads no other
  // record. A refusal may answer a retry of an operation that already changed the payment (a
  // second full capture), so only then is the id looked up first.
  let connector: ReturnType<typeof rules>;
  try {
    connector = rules(payment);
  } catch (refusal) {
    if (!(refusal instanceof PaymentError && refusal.code === "failed_precondition")) throw refusal;
    const existing = await k.repository.findOperation(kind, meta.shopId, req.id);
    const answer = existing && (await claimedBefore(k, meta, req, hash, payment, existing));
    if (answer) return answer;
    throw refusal;
  }
  let claimed = await k.repository.claimOperation(newOperation(k, meta, kind, req, hash, amount));
  if (!claimed.inserted) {
    const answer = await claimedBefore(k, meta, req, hash, payment, claimed.record);
    if (answer) return answer;
    claimed = await k.repository.claimOperation(newOperation(k, meta, kind, req, hash, amount));
    if (!claimed.inserted) return claimedBefore(k, meta, req, hash, payment, claimed.record, false);
  }
  const op = claimed.record;
  const held = await reserve(k, kind, payment, op, meta);
  if (!held) {
    await k.repository.deleteOperation(kind, meta.shopId, req.id);
    rules(await k.requirePayment(meta.shopId, req.paymentId));
    throw failedPrecondition(`payment ${req.paymentId} changed while the ${kind} was being prepared; try again`);
  }
  const ctx = k.pspContext(await k.shopOf(meta), payment.test);
  const outcome = await k.callPsp<OperationOutcome>({
    connector: connector.name,
    what: kind,
    meta,
    send: () => {
      const base = { idempotencyKey: op.idempotencyKey, reference: payment.channelPaymentId };
      const money = { minor: amount?.minor ?? payment.amount.minor, currency: payment.amount.currency };
      if (kind === "capture") return connector.capture(ctx, { ...base, amount: money });
      if (kind === "void") return connector.void(ctx, base);
      return connector.refund(ctx, { ...base, amount: money });
    },
    refused: (reason) => ({ kind: "failed", reason }),
    // Held just now and never sent before (an unheld claim is started over, see above).
    fresh: true,
  });
  // The hold's record is current once the PSP answers (the lock was held throughout); with leases
  // between instances a long call may have outlived the lease, so it is read again.
  return k.recorder.settleOperation(op, outcome, meta, k.deps.lockWrites ? null : held);
}

/** What Genstore hears of an operation: the PSP's id and, when it failed, why. */
export const operationAnswer = (op: OperationRecord | null): OperationAnswer => ({
  channelId: op?.channelId ?? "",
  error: op?.state === "failed" ? (op.error ?? "failed") : "",
});

/**
 * The amount in the payment's currency. Its syntax was checked before the payment was looked up
 * (a 400 whatever the payment); more decimals than this payment's currency has is a refusal of
 * this payment, like an amount over what is left.
 */
function amountOf(value: string, payment: PaymentRecord): Money {
  try {
    return parseAmount(value, payment.amount.currency);
  } catch (err) {
    if (err instanceof PaymentError && err.code === "invalid_argument") throw failedPrecondition(err.message);
    throw err;
  }
}

/** The shared path of capture, void and refund: claim the id, hold the payment, call the PSP, settle. */
export async function runOperation(k: Kernel, meta: RequestMeta, kind: OperationKind, req: OperationRequest): Promise<OperationAnswer> {
  await k.shopOf(meta);
  if (req.amount !== undefined) checkAmountSyntax(req.amount);
  if (k.deps.lockWrites) await k.requirePayment(meta.shopId, req.paymentId);
  const op = await k.serialized(
    meta,
    req.paymentId,
    () => claimHoldAndCall(k, meta, kind, req),
    async () => {
      const op = await k.repository.findOperation(kind, meta.shopId, req.id);
      // Still waiting behind other requests on this payment: not accepted yet, and it may still be
      // refused, so "" (accepted) would be wrong. Its retry gets the answer (the work goes on).
      if (!op) throw new PaymentError("unavailable", `payment ${req.paymentId} is busy with other requests; retry this ${kind} in a few seconds`);
      return op;
    },
  );
  return operationAnswer(op);
}
