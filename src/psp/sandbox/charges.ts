import { randomBytes } from "node:crypto";
import type { CardPaymentInput, OffsitePaymentInput, PaymentOutcome, PspContext } from "../connector.js";
import { chargeOutcome, claimEntry, hashOf, settle, settleLater, type SandboxBooks } from "./books.js";
import type { LedgerEntry } from "./ledger.js";
import { orderSummary } from "./orderSummary.js";
import { behaviourOf } from "./testCards.js";

/** The secret of a hosted page's URL (kept with the charge: a retry gets the same page). */
const pageToken = () => randomBytes(16).toString("base64url");

const reused: PaymentOutcome = { kind: "unknown", reason: "sandbox: idempotency key reused with different parameters" };

/** A card charge decided by the test card's number (the sandbox's table of outcomes). */
export async function chargeCard(books: SandboxBooks, ctx: PspContext, input: CardPaymentInput): Promise<PaymentOutcome> {
  const behaviour = behaviourOf(input.card.number);
  const declined = behaviour === "decline_card" ? "card declined" : behaviour === "decline_funds" ? "insufficient funds" : undefined;
  const undecided: LedgerEntry["status"] =
    behaviour === "three_ds" ? "requires_action" : behaviour === "async_approve" ? "pending" : input.capture ? "captured" : "authorized";
  const status = declined ? "declined" : undecided;
  const claimed = await claimEntry(
    books,
    ctx,
    input.idempotencyKey,
    {
      type: "charge",
      amount: input.amount.minor,
      currency: input.amount.currency,
      requestHash: hashOf(["card", input.amount.minor, input.amount.currency, input.capture, input.card.number.slice(-4)]),
      status,
      capture: input.capture,
      flow: "card",
      cardLast4: input.card.number.slice(-4),
      returnUrl: input.returnUrl,
      ...(status === "requires_action" ? { pageToken: pageToken() } : {}),
      ...(input.order ? { order: orderSummary(input.order) } : {}),
      ...(declined ? { reason: declined } : {}),
      ...(status === "captured" ? { capturedAmount: input.amount.minor } : {}),
      ...(behaviour === "refunds_fail" ? { refundsFail: true } : {}),
      ...(status === "pending" ? { settlesAt: new Date(books.now().getTime() + books.asyncDelayMs) } : {}),
    },
    "ch",
  );
  if (claimed.conflict) return reused;
  if (claimed.inserted && status === "pending") settleLater(books, claimed.entry);
  // The charge is booked, but the answer is lost on the way back: only a status query tells.
  if (behaviour === "error_after_charge") return { kind: "unknown", reason: "sandbox: the PSP timed out" };
  return chargeOutcome(await settle(books, claimed.entry), books.publicUrl());
}

/** An offsite charge waits for the buyer on the sandbox's checkout page. */
export async function chargeOffsite(books: SandboxBooks, ctx: PspContext, input: OffsitePaymentInput): Promise<PaymentOutcome> {
  const claimed = await claimEntry(
    books,
    ctx,
    input.idempotencyKey,
    {
      type: "charge",
      amount: input.amount.minor,
      currency: input.amount.currency,
      requestHash: hashOf(["offsite", input.amount.minor, input.amount.currency, input.capture]),
      status: "requires_action",
      capture: input.capture,
      flow: "offsite",
      returnUrl: input.returnUrl,
      pageToken: pageToken(),
      ...(input.order ? { order: orderSummary(input.order) } : {}),
    },
    "ch",
  );
  if (claimed.conflict) return reused;
  return chargeOutcome(claimed.entry, books.publicUrl());
}
