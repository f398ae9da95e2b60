import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MongoClient } from "mongodb";
import type { CardDetails } from "../../src/crypto/cardData";
import type { Connector, PspContext, WebhookShop } from "../../src/psp/connector";
import { createSandboxConnector } from "../../src/psp/sandbox/connector";
import { createSandboxFileLedger } from "../../src/psp/sandbox/fileLedger";
import { createSandboxLedger } from "../../src/psp/sandbox/ledger";
import { createSandboxPages } from "../../src/psp/sandbox/pages";
import { createSandboxWebhookSender } from "../../src/psp/sandbox/webhooks";
import { createStripeConnector } from "../../src/psp/stripe/connector";
import { startStripeEmulator, type StripeEmulator } from "./stripeEmulator";

export interface WebhookDelivery {
  body: Buffer;
  headers: Headers;
  shop?: WebhookShop;
}

/**
 * What the connector contract suite needs from a PSP besides its connector: test cards, the
 * buyer's side of hosted pages, the PSP's own books, its webhooks, and a way to lose an answer.
 */
export interface ConnectorHarness {
  connector: Connector;
  ctx: PspContext;
  cards: { approve: CardDetails; decline: CardDetails; threeDs: CardDetails };
  /** The buyer completes 3-D Secure; resolves with the webhook the PSP sends about it. */
  completeChallenge(reference: string, url: string): Promise<WebhookDelivery>;
  /** The buyer pays on the hosted page; resolves with the PSP's webhook. */
  payHostedPage(reference: string, url: string): Promise<WebhookDelivery>;
  /** Arranges that the PSP books the next card payment but its answer never arrives. */
  loseNextPaymentAnswer(): CardDetails;
  /** Charges the PSP booked under this idempotency key. */
  chargesWithKey(key: string): Promise<number>;
  /** The PSP's own record of a charge, in its minor units. */
  books(reference: string): Promise<{ captured: number; refunded: number }>;
  /**
   * Requests the connector sent and the PSP's request validator saw: `refused` lists those it
   * rejected as malformed. Null when the PSP is in-process (the sandbox has no wire format).
   */
  validated(): { seen: number; refused: string[] } | null;
  close(): Promise<void>;
}

const card = (number: string): CardDetails => ({ number, expiryMonth: 12, expiryYear: new Date().getFullYear() + 3, cvv: "123", holderName: "Contract Test" });

/**
 * The sandbox, with its hosted pages and webhook sender on a local port, its books in the run's
 * FerretDB or in an SQLite file of its own (as beside the embedded database).
 */
export async function sandboxHarness(books: "database" | "file" = "database"): Promise<ConnectorHarness> {
  const uri = process.env.TEST_MONGODB_URI;
  if (!uri) throw new Error("TEST_MONGODB_URI is not set: jest's globalSetup starts the database");
  const client = await new MongoClient(uri).connect();
  const db = client.db(`contract_${randomBytes(6).toString("hex")}`);
  const dir = books === "file" ? mkdtempSync(join(tmpdir(), "sandbox-books-")) : "";
  const fileLedger = books === "file" ? createSandboxFileLedger(join(dir, "ledger.sqlite")) : undefined;
  const ledger = fileLedger ?? createSandboxLedger(db);
  const deliveries: WebhookDelivery[] = [];
  let waiting: ((d: WebhookDelivery) => void) | undefined;
  let base = "";
  const secret = randomBytes(16).toString("hex");
  const sender = createSandboxWebhookSender(
    secret,
    () => `${base}/hook`,
    () => {},
  );
  const pages = createSandboxPages(ledger, (entry) => sender.chargeUpdated(entry));
  const server: Server = createServer((req, res) => {
    if (req.url === "/hook") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
        const d = { body: Buffer.concat(chunks), headers };
        if (waiting) waiting(d);
        else deliveries.push(d);
        waiting = undefined;
        res.writeHead(200).end();
      });
      return;
    }
    void pages(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const connector = createSandboxConnector({ ledger, publicUrl: () => base, webhookSecret: secret, webhooks: sender, asyncDelayMs: 200 });
  const nextDelivery = () => new Promise<WebhookDelivery>((r) => (deliveries.length ? r(deliveries.shift()!) : (waiting = r)));
  const choose = async (url: string, action: string) => {
    const res = await fetch(url, { method: "POST", body: new URLSearchParams({ action }), redirect: "manual" });
    if (res.status >= 400) throw new Error(`sandbox page answered ${res.status}`);
    return nextDelivery();
  };
  const merchant = "contract-merchant";
  return {
    connector,
    ctx: { mode: "test", credentials: { merchantId: merchant }, shopId: "contract-shop" },
    cards: { approve: card("4242424242424242"), decline: card("4000000000000002"), threeDs: card("4000000000003220") },
    completeChallenge: (_ref, url) => choose(url, "complete"),
    payHostedPage: (_ref, url) => choose(url, "pay"),
    loseNextPaymentAnswer: () => card("4000000000000119"),
    chargesWithKey: async (key) => (await ledger.all({ type: "charge", merchant })).filter((e) => e.key === `${merchant}/${key}`).length,
    async books(reference) {
      const e = await ledger.byReference(reference);
      return { captured: e?.capturedAmount ?? 0, refunded: e?.refundedAmount ?? 0 };
    },
    validated: () => null,
    async close() {
      connector.stop();
      await sender.flush();
      await new Promise<void>((r) => server.close(() => r()));
      await db.dropDatabase().catch(() => {});
      await client.close();
      fileLedger?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The Stripe connector through the official SDK, against stripe-mock with Stripe's state in front. */
export async function stripeHarness(): Promise<ConnectorHarness & { emulator: StripeEmulator; webhookSecret: string }> {
  const mockUrl = process.env.STRIPE_MOCK_URL;
  if (!mockUrl) throw new Error("STRIPE_MOCK_URL is not set: jest's globalSetup starts stripe-mock");
  const emulator = await startStripeEmulator(mockUrl);
  // One SDK retry: a lost answer is retried with the same idempotency key, as in production.
  const connector = createStripeConnector({ apiBase: emulator.url, maxNetworkRetries: 1, timeoutMs: 5000 });
  const webhookSecret = `whsec_${randomBytes(16).toString("hex")}`;
  const credentials = { secretKey: `sk_test_${randomBytes(8).toString("hex")}`, webhookSecret };
  const shop: WebhookShop = { shopId: "contract-shop", testCredentials: credentials, liveCredentials: {} };
  const delivery = (type: string, object: Record<string, unknown>): WebhookDelivery => {
    const signed = emulator.signedEvent(type, object, webhookSecret);
    return { body: Buffer.from(signed.body), headers: new Headers(signed.headers), shop };
  };
  return {
    emulator,
    webhookSecret,
    connector,
    ctx: { mode: "test", credentials, shopId: shop.shopId },
    cards: { approve: card("4242424242424242"), decline: card("4000000000000002"), threeDs: card("4000000000003220") },
    async completeChallenge(reference) {
      const pi = emulator.authenticate(reference);
      return delivery(pi.status === "succeeded" ? "payment_intent.succeeded" : "payment_intent.amount_capturable_updated", pi);
    },
    async payHostedPage(reference) {
      return delivery("checkout.session.completed", emulator.payCheckout(reference));
    },
    loseNextPaymentAnswer() {
      // The first answer and the SDK's retry of it.
      emulator.loseAnswers(2, "/v1/payment_intents");
      return card("4242424242424242");
    },
    chargesWithKey: async (key) => emulator.intentsWithKey(key).length,
    async books(reference) {
      const pi = emulator.intent(reference);
      const refunded = emulator.refundsOf(reference).reduce((sum, r) => sum + (r.amount as number), 0);
      return { captured: (pi?.amount_received as number | undefined) ?? 0, refunded };
    },
    validated: () => ({
      seen: emulator.requests.length,
      refused: emulator.requests.filter((r) => r.mockStatus >= 300).map((r) => `${r.method} ${r.path} → stripe-mock ${r.mockStatus}`),
    }),
    close: () => emulator.close(),
  };
}
