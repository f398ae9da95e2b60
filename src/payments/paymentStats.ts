import type { PaymentSummary } from "./paymentListing.js";
import type { PaymentState } from "./records.js";

export interface MinuteStats {
  start: Date;
  succeeded: number;
  declined: number;
  failed: number;
  pending: number;
  pspLatencyMsP50: number;
  pspLatencyMsP95: number;
  callbackLagMsP50: number;
  callbackLagMsP95: number;
  callbacksDelivered: number;
}

/** A payment's outcome so far, for charts: authorized and later states count as succeeded. */
export function outcomeOf(state: PaymentState): "succeeded" | "declined" | "failed" | "pending" {
  switch (state) {
    case "declined":
      return "declined";
    case "failed":
    case "unknown":
      return "failed";
    case "received":
    case "requires_action":
    case "pending":
      return "pending";
    default:
      return "succeeded";
  }
}

/** The q-quantile (nearest rank) of sorted values; 0 for none. */
function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** One bucket per minute from `from` (aligned to the minute) for `minutes` minutes, by the minute each payment was created. */
export function statsByMinute(payments: readonly PaymentSummary[], from: Date, minutes: number): MinuteStats[] {
  const start = Math.floor(from.getTime() / 60_000) * 60_000;
  const buckets = Array.from({ length: minutes }, (_, i) => ({
    start: start + i * 60_000,
    counts: { succeeded: 0, declined: 0, failed: 0, pending: 0 },
    psp: [] as number[],
    lags: [] as number[],
  }));
  for (const p of payments) {
    const b = buckets[Math.floor((p.createdAt.getTime() - start) / 60_000)];
    if (!b) continue;
    b.counts[outcomeOf(p.state)]++;
    if (p.pspLatencyMs !== undefined) b.psp.push(p.pspLatencyMs);
    b.lags.push(...p.callbackLagsMs);
  }
  return buckets.map((b) => {
    const psp = b.psp.sort((x, y) => x - y);
    const lags = b.lags.sort((x, y) => x - y);
    return {
      start: new Date(b.start),
      ...b.counts,
      pspLatencyMsP50: quantile(psp, 0.5),
      pspLatencyMsP95: quantile(psp, 0.95),
      callbackLagMsP50: quantile(lags, 0.5),
      callbackLagMsP95: quantile(lags, 0.95),
      callbacksDelivered: lags.length,
    };
  });
}
