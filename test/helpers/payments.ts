import { existsSync } from "node:fs";
import { join } from "node:path";
import { createSandboxFileLedger } from "../../src/psp/sandbox/fileLedger";
import type { LedgerEntry } from "../../src/psp/sandbox/ledger";
import type { Db } from "mongodb";
import { connectorDatabase } from "../../src/app/createApp";
import { decodeEntries } from "../../src/store/storedEntries";
import examples from "../fixtures/apiPageExamples.json";
import { encryptLikeGenstore, testCard } from "./genstoreEncrypt";
import { postJson, type TestServer } from "./testServer";
import { waitFor } from "./waitFor";

let seq = 0;
/** Ids unique across test files and runs. */
export const uniqueId = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++seq}`;

/** The API page's card example with a real encrypted card. */
export function cardBody(
  server: TestServer,
  paymentId: string,
  opts: { card?: string; cvv?: string; manualCapture?: boolean | string; amount?: string; currency?: string; test?: boolean } = {},
) {
  const body = JSON.parse(examples.cardPayment);
  body.paymentId = paymentId;
  body.paymentMethod.data = { ...encryptLikeGenstore(server.publicKey, testCard(opts.card, opts.cvv)), returnUrl: "https://shop.example/pay/result" };
  if (opts.manualCapture !== undefined) body.manualCapture = opts.manualCapture;
  if (opts.amount !== undefined) body.amount = opts.amount;
  if (opts.currency !== undefined) body.currency = opts.currency;
  if (opts.test !== undefined) body.test = opts.test;
  return body;
}

/** Thin Genstore-side client for one shop over the JSON routes. */
export function genstoreClient(server: TestServer, shopId?: string) {
  const q = shopId ? `?shopId=${encodeURIComponent(shopId)}` : "";
  const post = (path: string, body: unknown) => postJson(`${server.url}${path}${q}`, body);
  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}${q}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return {
    pay: (body: unknown) => post("/genstore/v1/payments/card", body),
    payOffsite: (body: unknown) => post("/genstore/v1/payments/offsite", body),
    capture: (paymentId: string, amount: string, captureId = uniqueId("cap")) => post("/genstore/v1/captures", { captureId, paymentId, amount, test: "true" }),
    void: (paymentId: string, voidId = uniqueId("void")) => post("/genstore/v1/voids", { voidId, paymentId, test: "true" }),
    refund: (paymentId: string, amount: string, refundId = uniqueId("ref")) => post("/genstore/v1/refunds", { refundId, paymentId, amount, test: "true" }),
    getPayment: (paymentId: string) => get(`/genstore/v1/payments/${encodeURIComponent(paymentId)}`),
    getRefund: (refundId: string) => get(`/genstore/v1/refunds/${encodeURIComponent(refundId)}`),
  };
}

/**
 * The payment's stored document, its timeline and callbacks read as records (storedEntries.ts),
 * once the writes that follow answers already given have landed (the service answers a payment
 * while its final write is under way; its own reads wait for that write too).
 */
export async function storedPayment(server: TestServer, paymentId: string) {
  await server.app.settled();
  const doc = await server.db.collection("payments").findOne({ genstoreId: paymentId });
  return doc && decodeEntries(doc);
}

/** The sandbox PSP's books, kept in its own database beside the service's. */
export const sandboxBooks = (db: Db) => connectorDatabase(db, "sandbox").collection("sandbox_ledger");

/** The sandbox's books of a service on the embedded database: a file in its DATA_DIR. */
export async function sandboxFileBooks(dataDir: string): Promise<LedgerEntry[]> {
  const path = join(dataDir, "psp", "sandbox", "ledger.sqlite");
  if (!existsSync(path)) throw new Error(`no sandbox books at ${path}`);
  const books = createSandboxFileLedger(path);
  try {
    return await books.all();
  } finally {
    books.close();
  }
}

export async function ledger(server: TestServer, filter: Record<string, unknown> = {}) {
  return sandboxBooks(server.db).find(filter).toArray();
}

/**
 * Waits until every callback of the payment is delivered or parked: from then on no call about
 * it can reach Genstore until something new happens to it. (What "nothing more may come" means,
 * without a fixed sleep.)
 */
export async function outboxDrained(server: TestServer, paymentId: string, timeoutMs = 10_000) {
  return waitFor(
    `the outbox of ${paymentId} to drain`,
    async () => {
      const p = await storedPayment(server, paymentId);
      const callbacks = (p?.callbacks ?? []) as { state: string }[];
      return p && p.nextCallbackAt === null && callbacks.length > 0 && callbacks.every((c) => c.state !== "pending") ? p : undefined;
    },
    timeoutMs,
  );
}
