import { createHash } from "node:crypto";
import type { OperationOutcome, PaymentOutcome, PspContext } from "../connector.js";
import { ledgerId, type LedgerEntry, type SandboxLedger } from "./ledger.js";
import type { SandboxWebhookSender } from "./webhooks.js";

/** The sandbox's books and clock: what its charges and operations share. */
export interface SandboxBooks {
  ledger: SandboxLedger;
  publicUrl: () => string;
  now: () => Date;
  asyncDelayMs: number;
  webhooks?: SandboxWebhookSender | undefined;
  /** Timers of asynchronous charges, cleared on stop. */
  timers: Set<NodeJS.Timeout>;
}

export type NewEntry = Omit<LedgerEntry, "_id" | "key" | "reference" | "merchant" | "mode" | "createdAt" | "updatedAt">;

export const hashOf = (parts: unknown[]) => createHash("sha256").update(JSON.stringify(parts)).digest("base64url");

/** The merchant account the credentials name; the sandbox takes any credentials. */
export function merchantOf(ctx: PspContext): string {
  return ctx.credentials.merchantId || `sandbox-${ctx.shopId}`;
}

export function chargeOutcome(entry: LedgerEntry, publicUrl: string): PaymentOutcome {
  switch (entry.status) {
    case "captured":
      return { kind: "approved", reference: entry.reference };
    case "authorized":
    case "voided":
      return { kind: "authorized", reference: entry.reference };
    case "requires_action":
      return {
        kind: "requires_action",
        reference: entry.reference,
        url: `${publicUrl}/sandbox/${entry.flow === "offsite" ? "checkout" : "3ds"}/${entry.reference}${entry.pageToken ? `?t=${entry.pageToken}` : ""}`,
      };
    case "declined":
    case "cancelled":
      return { kind: "declined", reference: entry.reference, reason: entry.reason ?? "declined" };
    default:
      // pending, or a status this code does not know: the outcome is not decided.
      return { kind: "pending", reference: entry.reference };
  }
}

export function operationOutcome(entry: LedgerEntry): OperationOutcome {
  return entry.status === "succeeded"
    ? { kind: "succeeded", reference: entry.reference }
    : { kind: "failed", reference: entry.reference, reason: entry.reason ?? "failed" };
}

/** Claims an idempotency key; a replay with the same request returns the first entry. */
export async function claimEntry(books: SandboxBooks, ctx: PspContext, key: string, entry: NewEntry, prefix: string) {
  const merchant = merchantOf(ctx);
  const at = books.now();
  const _id = ledgerId(entry.type === "charge" ? "charge" : "operation", merchant, key);
  const reference = `${prefix}_${_id.slice(3)}`;
  const result = await books.ledger.claim({ ...entry, _id, key: `${merchant}/${key}`, reference, merchant, mode: ctx.mode, createdAt: at, updatedAt: at });
  if (!result.inserted && result.entry.requestHash !== entry.requestHash) return { conflict: true as const, entry: result.entry };
  return { conflict: false as const, inserted: result.inserted, entry: result.entry };
}

/** Settles an asynchronous charge whose time has come. */
export async function settle(books: SandboxBooks, entry: LedgerEntry): Promise<LedgerEntry> {
  if (entry.status !== "pending" || !entry.settlesAt || entry.settlesAt > books.now()) return entry;
  const status = entry.capture ? "captured" : "authorized";
  const set = { status, ...(entry.capture ? { capturedAmount: entry.amount } : {}) } as Partial<LedgerEntry>;
  await books.ledger.update(entry._id, set);
  return { ...entry, ...set };
}

/** Settles an asynchronous charge when its time comes and says so by webhook. */
export function settleLater(books: SandboxBooks, entry: LedgerEntry): void {
  const t = setTimeout(() => {
    books.timers.delete(t);
    void books.ledger
      .byReference(entry.reference)
      .then((e) => (e ? settle(books, e) : null))
      .then((e) => {
        if (e && e.status !== "pending") books.webhooks?.chargeUpdated(e);
      })
      .catch(() => {});
  }, books.asyncDelayMs);
  t.unref();
  books.timers.add(t);
}
