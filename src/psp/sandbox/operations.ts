import type { OperationOutcome, PspContext } from "../connector.js";
import { claimEntry, hashOf, merchantOf, operationOutcome, type SandboxBooks } from "./books.js";
import type { LedgerEntry } from "./ledger.js";

export type OperationType = "capture" | "void" | "refund";

/** Why the sandbox refuses an operation on a charge, or undefined; decided before the key is claimed. */
function refusal(type: OperationType, charge: LedgerEntry, amount: number): string | undefined {
  if (type === "capture") {
    if (charge.status !== "authorized") return `charge is ${charge.status}, not authorized`;
    if (amount > charge.amount) return "capture amount exceeds the authorized amount";
    return undefined;
  }
  if (type === "void") {
    // A charge still waiting for the buyer can be cancelled too.
    return ["authorized", "requires_action", "pending"].includes(charge.status) ? undefined : `charge is ${charge.status}, not authorized`;
  }
  if (charge.status !== "captured") return `charge is ${charge.status}, not captured`;
  if (charge.refundsFail) return "refund failed: this test card refuses refunds";
  if (amount > (charge.capturedAmount ?? 0) - (charge.refundedAmount ?? 0)) return "refund exceeds the captured amount left";
  return undefined;
}

/** What an operation does to its charge once booked. */
function effect(type: OperationType, charge: LedgerEntry, amount: number): Partial<LedgerEntry> {
  if (type === "capture") return { status: "captured", capturedAmount: amount };
  if (type === "void") return charge.status === "authorized" ? { status: "voided" } : { status: "cancelled", reason: "cancelled by the merchant" };
  return { refundedAmount: (charge.refundedAmount ?? 0) + amount };
}

/** A capture, void or refund: the decision is stored with the key, so a replay gets the same. */
export async function operate(
  books: SandboxBooks,
  ctx: PspContext,
  type: OperationType,
  input: { idempotencyKey: string; reference: string; amount?: { minor: number; currency: string } },
): Promise<OperationOutcome> {
  const charge = await books.ledger.byReference(input.reference);
  if (!charge || charge.type !== "charge" || charge.merchant !== merchantOf(ctx)) return { kind: "failed", reason: `no such charge ${input.reference}` };
  const amount = input.amount?.minor ?? charge.amount;
  const reason = refusal(type, charge, amount);
  const prefix = type === "capture" ? "cp" : type === "void" ? "vd" : "rf";
  const entry = { type, chargeReference: charge.reference, amount, currency: charge.currency, requestHash: hashOf([type, input.reference, amount]) };
  const claimed = await claimEntry(
    books,
    ctx,
    input.idempotencyKey,
    { ...entry, status: reason ? "failed" : "succeeded", ...(reason ? { reason } : {}) },
    prefix,
  );
  if (claimed.conflict) return { kind: "failed", reason: "idempotency key reused with different parameters" };
  if (claimed.inserted && !reason) await books.ledger.update(charge._id, effect(type, charge, amount));
  return operationOutcome(claimed.entry);
}
