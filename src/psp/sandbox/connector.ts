import { isDatabaseUnavailable } from "../../runtime/databaseErrors.js";
import { ConnectorUnavailableError, type Connector } from "../connector.js";
import { chargeOutcome, merchantOf, operationOutcome, settle, type SandboxBooks } from "./books.js";
import { chargeCard, chargeOffsite } from "./charges.js";
import type { LedgerEntry, SandboxLedger } from "./ledger.js";
import { operate } from "./operations.js";
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

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/**
 * The built-in `sandbox` PSP (decisions.md D10): behaves like an external PSP, driven by test
 * cards, with its own ledger keyed by the idempotency keys it receives.
 */
export function createSandboxConnector(opts: SandboxOptions): Connector & { settle(entry: LedgerEntry): Promise<LedgerEntry>; stop(): void } {
  const books: SandboxBooks = {
    ledger: opts.ledger,
    publicUrl: opts.publicUrl,
    now: opts.now ?? (() => new Date()),
    asyncDelayMs: opts.asyncDelayMs ?? 5000,
    webhooks: opts.webhooks,
    timers: new Set(),
  };
  const latency = opts.latencyMs ?? 0;
  /** Like a remote PSP: half the latency on the way in, the booking, half on the way back. */
  const remote = async <T>(work: () => Promise<T>): Promise<T> => {
    await sleep(latency / 2);
    let result: T;
    try {
      result = await work();
    } catch (err) {
      // Its books may live in our database: when that is down, say "retry", not "PSP failed".
      if (isDatabaseUnavailable(err)) throw new ConnectorUnavailableError("the sandbox's books cannot be reached");
      throw err;
    }
    await sleep(latency - latency / 2);
    return result;
  };

  return {
    name: "sandbox",
    capabilities: { card: true, offsite: true, manualCapture: true, partialCapture: true, multipleRefunds: true, webhooks: true, movesMoney: false },
    settle: (entry) => settle(books, entry),
    stop() {
      for (const t of books.timers) clearTimeout(t);
      books.timers.clear();
    },
    payWithCard: (ctx, input) => remote(() => chargeCard(books, ctx, input)),
    payOffsite: (ctx, input) => remote(() => chargeOffsite(books, ctx, input)),
    capture: (ctx, input) => remote(() => operate(books, ctx, "capture", input)),
    void: (ctx, input) => remote(() => operate(books, ctx, "void", input)),
    refund: (ctx, input) => remote(() => operate(books, ctx, "refund", input)),

    async paymentStatus(ctx, input) {
      await sleep(latency);
      const entry = await books.ledger.byKey("charge", merchantOf(ctx), input.idempotencyKey);
      if (!entry) return { kind: "absent", reason: "the PSP has no such payment" };
      return chargeOutcome(await settle(books, entry), books.publicUrl());
    },

    async operationStatus(ctx, input) {
      await sleep(latency);
      const entry = await books.ledger.byKey("operation", merchantOf(ctx), input.idempotencyKey);
      if (!entry) return { kind: "failed", reason: "the PSP has no such operation" };
      return operationOutcome(entry);
    },

    parseWebhook(rawBody, headers) {
      const event = verifySandboxSignature(opts.webhookSecret, rawBody, headers.get("sandbox-signature"), books.now().getTime());
      const entry = { reference: event.data.reference, status: event.data.status, reason: event.data.reason } as LedgerEntry;
      return { id: event.id, target: "payment", idempotencyKey: event.data.idempotencyKey, outcome: chargeOutcome(entry, books.publicUrl()) };
    },
  };
}
