import { createHash } from "node:crypto";
import type { Connector, OperationOutcome, PaymentOutcome, PspContext } from "../connector.js";
import { ledgerId, type LedgerEntry, type SandboxLedger } from "./ledger.js";
import { behaviourOf } from "./testCards.js";
import { verifySandboxSignature, type SandboxWebhookSender } from "./webhooks.js";

export interface SandboxOptions {
  ledger: SandboxLedger;
  /** Base URL the hosted pages are served at (this service). */
  publicUrl: () => string;
  /** Added to every call, to make benchmarks and timeouts realistic. */
  latencyMs?: number;
  /** How long the asynchronous card (…0259) stays pending. */
  asyncDelayMs?: number;
  /** Signs webhooks; the sender posts them to our webhook endpoint. */
  webhookSecret: string;
  webhooks?: SandboxWebhookSender;
  now?: () => Date;
}

const hashOf = (parts: unknown[]) => createHash("sha256").update(JSON.stringify(parts)).digest("base64url");
const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** The merchant account the credentials name; the sandbox takes any credentials. */
function merchantOf(ctx: PspContext): string {
  return ctx.credentials.merchantId || `sandbox-${ctx.shopId}`;
}

function chargeOutcome(entry: LedgerEntry, publicUrl: string): PaymentOutcome {
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
        url: `${publicUrl}/sandbox/${entry.flow === "offsite" ? "checkout" : "3ds"}/${entry.reference}`,
      };
    case "pending":
      return { kind: "pending", reference: entry.reference };
    case "declined":
    case "cancelled":
      return { kind: "declined", reference: entry.reference, reason: entry.reason ?? "declined" };
    default:
      return { kind: "pending", reference: entry.reference };
  }
}

function operationOutcome(entry: LedgerEntry): OperationOutcome {
  return entry.status === "succeeded"
    ? { kind: "succeeded", reference: entry.reference }
    : { kind: "failed", reference: entry.reference, reason: entry.reason ?? "failed" };
}

/**
 * The built-in `sandbox` PSP (design §2.10): behaves like an external PSP, driven by test
 * cards, with its own ledger keyed by the idempotency keys it receives.
 */
export function createSandboxConnector(opts: SandboxOptions): Connector & { settle(entry: LedgerEntry): Promise<LedgerEntry>; stop(): void } {
  const { ledger } = opts;
  const now = opts.now ?? (() => new Date());
  const asyncDelayMs = opts.asyncDelayMs ?? 5000;
  const timers = new Set<NodeJS.Timeout>();
  const latency = opts.latencyMs ?? 0;

  /** Like a remote PSP: half the latency on the way in, the booking, half on the way back. */
  async function remote<T>(work: () => Promise<T>): Promise<T> {
    await sleep(latency / 2);
    const result = await work();
    await sleep(latency - latency / 2);
    return result;
  }

  /** Settles an asynchronous charge when its time comes and says so by webhook. */
  function settleLater(entry: LedgerEntry): void {
    const t = setTimeout(() => {
      timers.delete(t);
      void ledger
        .byReference(entry.reference)
        .then((e) => (e ? settle(e) : null))
        .then((e) => {
          if (e && e.status !== "pending") opts.webhooks?.chargeUpdated(e);
        })
        .catch(() => {});
    }, asyncDelayMs);
    t.unref();
    timers.add(t);
  }

  /** Settles an asynchronous charge whose time has come. */
  async function settle(entry: LedgerEntry): Promise<LedgerEntry> {
    if (entry.status !== "pending" || !entry.settlesAt || entry.settlesAt > now()) return entry;
    const status = entry.capture ? "captured" : "authorized";
    const set = { status, ...(entry.capture ? { capturedAmount: entry.amount } : {}) } as Partial<LedgerEntry>;
    await ledger.update(entry._id, set);
    return { ...entry, ...set };
  }

  /** Claims an idempotency key; a replay with the same request returns the first entry. */
  async function claim(
    ctx: PspContext,
    key: string,
    entry: Omit<LedgerEntry, "_id" | "key" | "reference" | "merchant" | "mode" | "createdAt" | "updatedAt">,
    prefix: string,
  ) {
    const merchant = merchantOf(ctx);
    const at = now();
    const _id = ledgerId(entry.type === "charge" ? "charge" : "operation", merchant, key);
    const reference = `${prefix}_${_id.slice(3)}`;
    const result = await ledger.claim({ ...entry, _id, key: `${merchant}/${key}`, reference, merchant, mode: ctx.mode, createdAt: at, updatedAt: at });
    if (!result.inserted && result.entry.requestHash !== entry.requestHash) {
      return { conflict: true as const, entry: result.entry };
    }
    return { conflict: false as const, inserted: result.inserted, entry: result.entry };
  }

  async function operation(
    ctx: PspContext,
    type: "capture" | "void" | "refund",
    input: { idempotencyKey: string; reference: string; amount?: { minor: number; currency: string } },
  ): Promise<OperationOutcome> {
    const charge = await ledger.byReference(input.reference);
    if (!charge || charge.type !== "charge" || charge.merchant !== merchantOf(ctx)) {
      return { kind: "failed", reason: `no such charge ${input.reference}` };
    }
    const amount = input.amount?.minor ?? charge.amount;
    const requestHash = hashOf([type, input.reference, amount]);
    const prefix = type === "capture" ? "cp" : type === "void" ? "vd" : "rf";
    // Decide before claiming: the decision is stored with the key, so a replay gets the same.
    let reason: string | undefined;
    if (type === "capture") {
      if (charge.status !== "authorized") reason = `charge is ${charge.status}, not authorized`;
      else if (amount > charge.amount) reason = "capture amount exceeds the authorized amount";
    } else if (type === "void") {
      // A charge still waiting for the buyer can be cancelled too.
      if (!["authorized", "requires_action", "pending"].includes(charge.status)) reason = `charge is ${charge.status}, not authorized`;
    } else {
      if (charge.status !== "captured") reason = `charge is ${charge.status}, not captured`;
      else if (charge.refundsFail) reason = "refund failed: this test card refuses refunds";
      else if (amount > (charge.capturedAmount ?? 0) - (charge.refundedAmount ?? 0)) reason = "refund exceeds the captured amount left";
    }
    const claimed = await claim(
      ctx,
      input.idempotencyKey,
      {
        type,
        chargeReference: charge.reference,
        amount,
        currency: charge.currency,
        requestHash,
        status: reason ? "failed" : "succeeded",
        ...(reason ? { reason } : {}),
      },
      prefix,
    );
    if (claimed.conflict) return { kind: "failed", reason: "idempotency key reused with different parameters" };
    if (claimed.inserted && !reason) {
      if (type === "capture") await ledger.update(charge._id, { status: "captured", capturedAmount: amount });
      if (type === "void") {
        await ledger.update(charge._id, charge.status === "authorized" ? { status: "voided" } : { status: "cancelled", reason: "cancelled by the merchant" });
      }
      if (type === "refund") await ledger.update(charge._id, { refundedAmount: (charge.refundedAmount ?? 0) + amount });
    }
    return operationOutcome(claimed.entry);
  }

  return {
    name: "sandbox",
    capabilities: { card: true, offsite: true, manualCapture: true, partialCapture: true, multipleRefunds: true, webhooks: true, movesMoney: false },
    settle,
    stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },

    payWithCard: (ctx, input) =>
      remote(async () => {
        const behaviour = behaviourOf(input.card.number);
        const declined = behaviour === "decline_card" ? "card declined" : behaviour === "decline_funds" ? "insufficient funds" : undefined;
        const status = declined
          ? "declined"
          : behaviour === "three_ds"
            ? "requires_action"
            : behaviour === "async_approve"
              ? "pending"
              : input.capture
                ? "captured"
                : "authorized";
        const claimed = await claim(
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
            ...(declined ? { reason: declined } : {}),
            ...(status === "captured" ? { capturedAmount: input.amount.minor } : {}),
            ...(behaviour === "refunds_fail" ? { refundsFail: true } : {}),
            ...(status === "pending" ? { settlesAt: new Date(now().getTime() + asyncDelayMs) } : {}),
          },
          "ch",
        );
        if (claimed.conflict) return { kind: "unknown", reason: "sandbox: idempotency key reused with different parameters" };
        if (claimed.inserted && status === "pending") settleLater(claimed.entry);
        // The charge is booked, but the answer is lost on the way back: only a status query tells.
        if (behaviour === "error_after_charge") return { kind: "unknown", reason: "sandbox: the PSP timed out" };
        return chargeOutcome(await settle(claimed.entry), opts.publicUrl());
      }),

    payOffsite: (ctx, input) =>
      remote(async () => {
        const claimed = await claim(
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
          },
          "ch",
        );
        if (claimed.conflict) return { kind: "unknown", reason: "sandbox: idempotency key reused with different parameters" };
        return chargeOutcome(claimed.entry, opts.publicUrl());
      }),

    capture: (ctx, input) => remote(() => operation(ctx, "capture", input)),
    void: (ctx, input) => remote(() => operation(ctx, "void", input)),
    refund: (ctx, input) => remote(() => operation(ctx, "refund", input)),

    async paymentStatus(ctx, input) {
      await sleep(latency);
      const entry = await ledger.byKey("charge", merchantOf(ctx), input.idempotencyKey);
      if (!entry) return { kind: "declined", reason: "the PSP has no such payment" };
      return chargeOutcome(await settle(entry), opts.publicUrl());
    },

    parseWebhook(rawBody, headers) {
      const event = verifySandboxSignature(opts.webhookSecret, rawBody, headers.get("sandbox-signature"), now().getTime());
      const entry = { reference: event.data.reference, status: event.data.status, reason: event.data.reason } as LedgerEntry;
      return { id: event.id, target: "payment", idempotencyKey: event.data.idempotencyKey, outcome: chargeOutcome(entry, opts.publicUrl()) };
    },

    async operationStatus(ctx, input) {
      await sleep(latency);
      const entry = await ledger.byKey("operation", merchantOf(ctx), input.idempotencyKey);
      if (!entry) return { kind: "failed", reason: "the PSP has no such operation" };
      return operationOutcome(entry);
    },
  };
}
