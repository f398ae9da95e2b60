import type { CallbackAttempt, CallbackRecord } from "../payments/records.js";
import type { DeliveryResult } from "./deliver.js";

/** How failed deliveries are retried (decisions.md D7): exponential backoff, full jitter, a window. */
export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  /** How long a callback is retried before it is parked for an operator (at least 72 h). */
  windowMs: number;
  random: () => number;
}

export type AttemptResult = DeliveryResult | { kind: "refused"; error: string; durationMs: number };

/** When the next pending callback is due; the outbox is delivered in order. */
export function nextDue(callbacks: CallbackRecord[]): Date | null {
  const head = callbacks.find((c) => c.state === "pending");
  return head ? (head.nextAttemptAt ?? new Date(0)) : null;
}

function backoff(policy: RetryPolicy, attempts: number): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.floor(policy.random() * ceiling);
}

/** Records one attempt on the callback: delivered, parked (refused, or out of window), or due again later. */
export function recordAttempt(cb: CallbackRecord, result: AttemptResult, at: Date, policy: RetryPolicy): void {
  const attempt: CallbackAttempt = {
    at,
    durationMs: result.durationMs,
    ...("httpStatus" in result && result.httpStatus ? { httpStatus: result.httpStatus } : {}),
    ...("error" in result ? { error: result.error } : {}),
  };
  cb.attempts.push(attempt);
  if (result.kind === "delivered") {
    cb.state = "delivered";
    cb.deliveredAt = at;
    cb.nextAttemptAt = null;
    return;
  }
  if (result.kind === "refused") {
    cb.state = "parked";
    cb.parkedReason = result.error;
    cb.nextAttemptAt = null;
    return;
  }
  const wait = result.retryAfterMs ?? backoff(policy, cb.attempts.length);
  const windowStart = cb.retryFrom ?? cb.createdAt;
  if (at.getTime() + wait - new Date(windowStart).getTime() > policy.windowMs) {
    cb.state = "parked";
    cb.parkedReason = `still failing after ${Math.round(policy.windowMs / 3_600_000)} h: ${result.error}`;
    cb.nextAttemptAt = null;
  } else {
    cb.nextAttemptAt = new Date(at.getTime() + wait);
  }
}
