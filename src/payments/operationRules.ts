import { failedPrecondition } from "./errors.js";
import { formatMinor, type Money } from "./money.js";
import type { OperationKind, PaymentRecord } from "./records.js";

/** What a capture, void or refund needs of the PSP behind the payment. */
export interface OperationCapabilities {
  name: string;
  partialCapture: boolean;
}

/**
 * The money rules of capture, void and refund, checked on the payment before anything is
 * written: mode, state, what is in progress, and amounts (captures ≤ authorized, refunds ≤
 * what is left). Throws a failed_precondition naming what stands in the way.
 */
export function refuseUnlessAllowed(kind: OperationKind, p: PaymentRecord, amount: Money | undefined, psp: OperationCapabilities, test: boolean): void {
  const money = (minor: number) => `${formatMinor(minor, p.amount.currency)} ${p.amount.currency}`;
  const mode = (t: boolean) => (t ? "test" : "live");
  if (test !== p.test) throw failedPrecondition(`payment ${p._id} is a ${mode(p.test)} payment: a ${kind} with test=${test} cannot act on it`);
  const busy = () => {
    if (p.activeOperation) throw failedPrecondition(`payment ${p._id} has a ${p.activeOperation.kind} in progress (${p.activeOperation.id})`);
  };
  if (kind === "capture") {
    if (p.state === "captured" || p.state === "partially_refunded" || p.state === "refunded") throw failedPrecondition(`payment ${p._id} is already captured`);
    if (p.state !== "authorized") throw failedPrecondition(`payment ${p._id} cannot be captured: it is ${p.state}, not authorized`);
    busy();
    if (amount && amount.minor > p.authorizedMinor)
      throw failedPrecondition(`capture of ${money(amount.minor)} exceeds the authorized ${money(p.authorizedMinor)}`);
    if (amount && amount.minor < p.authorizedMinor && !psp.partialCapture) throw failedPrecondition(`the PSP ${psp.name} cannot capture part of a payment`);
  } else if (kind === "void") {
    if (p.state === "voided") throw failedPrecondition(`payment ${p._id} is already voided`);
    if (p.state !== "authorized") throw failedPrecondition(`payment ${p._id} cannot be voided: it is ${p.state}; only an authorized, uncaptured payment can`);
    busy();
  } else {
    if (p.state !== "captured" && p.state !== "partially_refunded") {
      throw failedPrecondition(`payment ${p._id} cannot be refunded: it is ${p.state}${p.state === "authorized" ? " (not captured)" : ""}`);
    }
    if (amount && amount.minor > p.refundableMinor)
      throw failedPrecondition(`refund of ${money(amount.minor)} exceeds the ${money(p.refundableMinor)} left to refund`);
  }
}
