import type { PaymentState } from "./records.js";

/** Which states a payment may move to from each state (decisions.md D5). */
const next: Record<PaymentState, readonly PaymentState[]> = {
  received: ["requires_action", "pending", "authorized", "captured", "declined", "failed", "unknown"],
  requires_action: ["pending", "authorized", "captured", "declined", "failed", "unknown"],
  pending: ["authorized", "captured", "declined", "failed", "unknown"],
  unknown: ["requires_action", "pending", "authorized", "captured", "declined", "failed"],
  authorized: ["captured", "voided"],
  captured: ["partially_refunded", "refunded"],
  partially_refunded: ["refunded"],
  refunded: [],
  voided: [],
  declined: [],
  failed: [],
};

export function canMove(from: PaymentState, to: PaymentState): boolean {
  return from === to || next[from].includes(to);
}

/** States whose outcome is not known yet: the PSP may still decide. */
export const openStates: readonly PaymentState[] = ["received", "requires_action", "pending", "unknown"];

/** The states a payment may be in before moving to `to`. */
export function statesBefore(to: PaymentState): PaymentState[] {
  return (Object.keys(next) as PaymentState[]).filter((s) => s !== to && next[s].includes(to));
}
