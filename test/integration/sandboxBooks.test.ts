import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient, type Db } from "mongodb";
import { ConnectorUnavailableError } from "../../src/psp/connector";
import type { ConnectorHost } from "../../src/psp/module";
import { chooseSandboxLedger, type BooksSetting } from "../../src/psp/sandbox/booksChoice";
import { ledgerId, SANDBOX_LEDGER_COLLECTION, type LedgerEntry } from "../../src/psp/sandbox/ledger";
import { sandboxModule } from "../../src/psp/sandbox/module";

// Where the sandbox keeps its books, on the run's FerretDB and a folder of the instance's own.
let client: MongoClient;
let dir: string;
let db: Db;
beforeAll(async () => {
  client = await new MongoClient(process.env.TEST_MONGODB_URI ?? "").connect();
});
afterAll(() => client.close());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "books-"));
  db = client.db(`books_${randomBytes(4).toString("hex")}_sandbox`);
});
afterEach(async () => {
  await db.dropDatabase().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const logs: Record<string, unknown>[] = [];
const own = () => join(dir, "psp", "sandbox");
const host = (files: ConnectorHost["files"]): ConnectorHost => ({ db, files, publicUrl: () => "http://127.0.0.1", log: (e) => logs.push(e) });
const at = new Date("2026-11-30T12:00:00Z");
const entry = (key: string): LedgerEntry => ({
  _id: ledgerId("charge", "m", key),
  key: `m/${key}`,
  merchant: "m",
  mode: "test",
  type: "charge",
  reference: `ch_${key}`,
  amount: 100,
  currency: "EUR",
  requestHash: "h",
  status: "captured",
  createdAt: at,
  updatedAt: at,
});

/** Books one entry through the chosen ledger; says where it landed. */
async function bookOne(books: BooksSetting, files: ConnectorHost["files"]) {
  const { ledger, close } = chooseSandboxLedger(books, host(files));
  try {
    await ledger.claim(entry("k1"));
    expect(await ledger.byKey("charge", "m", "k1")).toMatchObject({ key: "m/k1" });
  } finally {
    close();
  }
  return { file: existsSync(join(own(), "ledger.sqlite")), database: (await db.collection(SANDBOX_LEDGER_COLLECTION).countDocuments({ key: "m/k1" })) === 1 };
}

test.each([
  ["auto", true, { file: true, database: false }],
  ["auto", false, { file: false, database: true }],
  ["file", false, { file: true, database: false }],
  ["database", true, { file: false, database: true }],
] as const)("SANDBOX_BOOKS=%s, embedded database %s: %j", async (books, embeddedDatabase, where) => {
  expect(await bookOne(books, { dir: own(), embeddedDatabase })).toEqual(where);
});

test("instances sharing a database get no folder: the books stay in the database, and file is refused", async () => {
  expect(await bookOne("auto", undefined)).toEqual({ file: false, database: true });
  expect(() => chooseSandboxLedger("file", host(undefined))).toThrow("SANDBOX_BOOKS=file needs a folder of this instance's own");
});

test("auto beside the embedded database keeps books an earlier version began in the database, and says so", async () => {
  await db.collection<LedgerEntry>(SANDBOX_LEDGER_COLLECTION).insertOne(entry("earlier"));
  const { ledger, close } = chooseSandboxLedger("auto", host({ dir: own(), embeddedDatabase: true }));
  try {
    // A charge booked before the upgrade is still known, and new ones join it.
    expect(await ledger.byKey("charge", "m", "earlier")).toMatchObject({ status: "captured" });
    await ledger.claim(entry("later"));
  } finally {
    close();
  }
  expect(existsSync(join(own(), "ledger.sqlite"))).toBe(false);
  expect(await db.collection(SANDBOX_LEDGER_COLLECTION).countDocuments()).toBe(2);
  expect(logs.map((l) => l.msg)).toContain("the sandbox keeps its books in the database, where an earlier version of this service began them");
});

test("once the file exists it is the books, whatever the database holds", async () => {
  expect(await bookOne("auto", { dir: own(), embeddedDatabase: true })).toEqual({ file: true, database: false });
  await db.collection<LedgerEntry>(SANDBOX_LEDGER_COLLECTION).insertOne(entry("stray"));
  const { ledger, close } = chooseSandboxLedger("auto", host({ dir: own(), embeddedDatabase: true }));
  try {
    expect(await ledger.byKey("charge", "m", "k1")).toMatchObject({ key: "m/k1" });
    expect(await ledger.byKey("charge", "m", "stray")).toBeNull();
  } finally {
    close();
  }
});

test("closed books answer with a rejection, not a throw, and closing twice is harmless", async () => {
  const { ledger, close } = chooseSandboxLedger("file", host({ dir: own(), embeddedDatabase: true }));
  close();
  close();
  await expect(ledger.byKey("charge", "m", "k1")).rejects.toThrow("the sandbox's books are closed");
});

test("books in a database that does not answer: the sandbox says 'unavailable, retry', never a PSP failure", async () => {
  // A real driver towards a port nothing listens on (the service answers such a call 503).
  const gone = new MongoClient("mongodb://127.0.0.1:9/", { serverSelectionTimeoutMS: 300 });
  try {
    const instance = sandboxModule.create(
      { latencyMs: 0, asyncDelayMs: 1000, books: "database" },
      { db: gone.db("gone_sandbox"), files: undefined, publicUrl: () => "http://127.0.0.1", log: () => {} },
    );
    const card = { number: "4242424242424242", expiryMonth: 12, expiryYear: 2040, cvv: "123", holderName: "T" };
    const paying = instance.connector.payWithCard(
      { mode: "test", credentials: { merchantId: "m" }, shopId: "s" },
      { idempotencyKey: "gspay_gone", amount: { minor: 100, currency: "EUR" }, capture: true, card, returnUrl: "http://127.0.0.1/r", description: "d" },
    );
    await expect(paying).rejects.toBeInstanceOf(ConnectorUnavailableError);
    await instance.stop?.();
  } finally {
    await gone.close();
  }
});
