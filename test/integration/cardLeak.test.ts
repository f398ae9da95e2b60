import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BSON, MongoClient } from "mongodb";
import { luhnValid } from "../../src/crypto/cardData";
import examples from "../fixtures/apiPageExamples.json";
import { randomCardNumber } from "../helpers/cards";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { encryptLikeGenstore } from "../helpers/genstoreEncrypt";
import { sandboxFileBooks } from "../helpers/payments";
import { waitFor } from "../helpers/waitFor";

// decisions.md D14: the card number and CVV never reach a log, the database, a callback, an error or an answer.
// The real service runs as a process; every path a card can take is driven through it, then
// everything it printed, stored and answered is searched.
const root = resolve(__dirname, "../..");
const database = `leak_${randomBytes(4).toString("hex")}`;
let child: ChildProcess;
let url = "";
let publicKey = "";
const printed: string[] = [];
const answers: string[] = [];
let dataDir: string;
let genstore: FakeGenstore;

beforeAll(async () => {
  genstore = await startFakeGenstore();
  dataDir = mkdtempSync(join(tmpdir(), "genstore-leak-"));
  child = spawn(join(root, "node_modules/.bin/tsx"), ["src/main.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      PORT: "0",
      DATA_DIR: dataDir,
      MONGODB_URI: process.env.TEST_MONGODB_URI ?? "",
      MONGODB_DATABASE: database,
      LOG_LEVEL: "debug",
      SANDBOX_ASYNC_DELAY_MS: "200",
      // The sandbox's books in their file, as beside the embedded database: searched below too.
      SANDBOX_BOOKS: "file",
      GENSTORE_CALLBACK_BASE_URL: genstore.url,
      GENSTORE_ACCESS_TOKEN: "tok-leak",
      RECONCILE_INTERVAL_MS: "200",
      RECONCILE_MIN_AGE_MS: "300",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const collect = (chunk: Buffer) => printed.push(chunk.toString("utf8"));
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  for (let i = 0; i < 600 && !url; i++) {
    const m = /^(?=.*"msg":"listening").*?"url":"([^"]+)"/m.exec(printed.join(""));
    if (m?.[1]) url = m[1];
    else await new Promise((r) => setTimeout(r, 50));
  }
  if (!url) throw new Error(`service did not start: ${printed.join("")}`);
  publicKey = ((await (await fetch(`${url}/genstore/v1/card-encryption-key`)).json()) as { publicKey: string }).publicKey;
}, 60_000);

afterAll(async () => {
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  const client = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await client.connect();
  await client.db(database).dropDatabase();
  await client.db(`${database}_sandbox`).dropDatabase();
  await client.close();
  rmSync(dataDir, { recursive: true, force: true });
  await genstore.stop();
});

/** Every card and CVV the test sends. */
const used: { number: string; cvv: string }[] = [];
let seq = 0;

function card(number: string, cvv: string, extra: Record<string, unknown> = {}) {
  used.push({ number, cvv });
  return { number, expiryMonth: "09", expiryYear: String(new Date().getUTCFullYear() + 2), cvv, holderName: "Leak Test", ...extra };
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; location: string | null }> {
  const res = await fetch(`${url}${path}`, {
    method,
    redirect: "manual",
    ...(body === undefined
      ? {}
      : {
          body: typeof body === "string" ? body : JSON.stringify(body),
          headers: { "content-type": typeof body === "string" ? "application/x-www-form-urlencoded" : "application/json" },
        }),
  });
  const text = await res.text();
  answers.push(`${res.status} ${JSON.stringify([...res.headers])} ${text}`);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { html: text };
  }
  return { status: res.status, body: parsed, location: res.headers.get("location") };
}

function payBody(plain: object | string, manualCapture = true) {
  const body = JSON.parse(examples.cardPayment);
  body.paymentId = `LEAK-${Date.now()}-${++seq}`;
  body.manualCapture = String(manualCapture);
  body.paymentMethod.data = { ...encryptLikeGenstore(publicKey, plain), returnUrl: "https://shop.example/back" };
  return body;
}

async function pay(plain: object | string, manualCapture = true) {
  const body = payBody(plain, manualCapture);
  return { id: body.paymentId as string, res: await call("POST", "/genstore/v1/payments/card", body), body };
}

test("every card path leaves no card number or CVV anywhere", async () => {
  // approve, capture, two refunds
  const approved = await pay(card(randomCardNumber(), "731"));
  expect(approved.res.status).toBe(200);
  expect((await call("POST", "/genstore/v1/captures", { captureId: `c-${seq}`, paymentId: approved.id, amount: "200.00", test: true })).status).toBe(200);
  expect((await call("POST", "/genstore/v1/refunds", { refundId: `r1-${seq}`, paymentId: approved.id, amount: "50.00", test: true })).status).toBe(200);
  expect((await call("POST", "/genstore/v1/refunds", { refundId: `r2-${seq}`, paymentId: approved.id, amount: "150.00", test: true })).status).toBe(200);
  // declines
  expect((await pay(card("4000000000000002", "842"))).res.body.error).toBe("card declined");
  expect((await pay(card("4000000000009995", "953"))).res.body.error).toBe("insufficient funds");
  // 3-D Secure through the sandbox page and our return endpoint
  const threeDs = await pay(card("4000000000003220", "164"));
  const challenge = String(threeDs.res.body.threeDsUrl);
  await call("GET", new URL(challenge).pathname + new URL(challenge).search);
  const submitted = await call("POST", new URL(challenge).pathname + new URL(challenge).search, "action=complete");
  await call("GET", new URL(String(submitted.location)).pathname);
  // asynchronous approval, then Get payment
  const async = await pay(card("4000000000000259", "275"));
  await waitFor("the asynchronous approval", async () => (await call("GET", `/genstore/v1/payments/${async.id}`)).body.status === "AUTH_SUCCESS");
  // PSP error, resolved by Get payment
  const lost = await pay(card("4000000000000119", "386"), false);
  expect((await call("GET", `/genstore/v1/payments/${lost.id}`)).body.status).toBe("SUCCESS");
  // refunds fail
  const noRefund = await pay(card("4000000000005126", "497"), false);
  expect((await call("POST", "/genstore/v1/refunds", { refundId: `r3-${seq}`, paymentId: noRefund.id, amount: "1.00", test: true })).body.error).toMatch(
    /refund failed/,
  );
  // void
  const voided = await pay(card(randomCardNumber("5", 16), "608"));
  expect((await call("POST", "/genstore/v1/voids", { voidId: `v-${seq}`, paymentId: voided.id, test: true })).status).toBe(200);
  // amex, 4-digit CVV
  expect((await pay(card(randomCardNumber("37", 15), "7391"))).res.status).toBe(200);
  // malformed plaintexts: bad expiry, bad CVV, bad Luhn, not JSON at all
  expect((await pay(card(randomCardNumber(), "519", { expiryMonth: "13" }))).res.status).toBe(400);
  expect((await pay(card(randomCardNumber(), "52817"))).res.body.error).toBe("the card security code must have 3 digits");
  const badLuhn = randomCardNumber().replace(/\d$/, (d) => String((Number(d) + 1) % 10));
  expect((await pay(card(badLuhn, "536"))).res.body.error).toBe("the card number is not valid");
  const raw = randomCardNumber();
  used.push({ number: raw, cvv: "547" });
  expect((await pay(`${raw}|09|30|547`)).res.body.error).toBe("the decrypted card data is not JSON");
  // a tampered packet and an idempotency conflict with another card
  const tampered = payBody(card(randomCardNumber(), "558"));
  tampered.paymentMethod.data.iv = Buffer.alloc(12, 1).toString("base64");
  expect((await call("POST", "/genstore/v1/payments/card", tampered)).status).toBe(400);
  const again = payBody(card(randomCardNumber(), "569"));
  again.paymentId = approved.id;
  expect((await call("POST", "/genstore/v1/payments/card", again)).body.error).toMatch(/was already received with different parameters/);

  // Every result reaches Genstore before we look: 14 payments' and operations' callbacks.
  await genstore.waitFor((calls) => calls.filter((c) => c.status === 200).length >= 14, 15_000);
  const callbackBodies = genstore.calls.map((c) => JSON.stringify(c.body)).join("\n");
  expect(callbackBodies).toContain('"status":true');

  // What the database holds, every collection.
  const client = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await client.connect();
  const documents: unknown[] = [];
  // Ours and the sandbox PSP's own database beside it.
  for (const db of [client.db(database), client.db(`${database}_sandbox`)])
    for (const c of await db.listCollections().toArray()) documents.push(...(await db.collection(c.name).find().toArray()));
  await client.close();
  // The sandbox's books in their file, and every byte of every file the service keeps in DATA_DIR.
  documents.push(...(await sandboxFileBooks(dataDir)));
  expect(documents.length).toBeGreaterThan(20);
  const files = filesUnder(dataDir).map((f) => readFileSync(f).toString("latin1"));
  expect(files.length).toBeGreaterThan(3);

  const logText = printed.join("");
  expect(logText).toContain('"msg":"request"');
  const stored = BSON.EJSON.stringify(documents);
  const answered = answers.join("\n");
  const logValues = logText
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown);

  for (const { number, cvv } of used) {
    expect(luhnValid(number) || number === badLuhn).toBe(true);
    for (const [where, text] of [
      ["logs", logText],
      ["database", stored],
      ["DATA_DIR", files.join("\n")],
      ["answers", answered],
      ["callbacks", callbackBodies],
    ] as const) {
      expect({ where, found: text.includes(number) }).toEqual({ where, found: false });
      expect({ where, found: text.includes(number.slice(0, 12)) }).toEqual({ where, found: false });
    }
    // A CVV is short, so look for it as a whole value anywhere in the structured output.
    for (const [where, values] of [
      ["logs", logValues],
      ["database", documents],
      ["callbacks", genstore.calls.map((c) => c.body)],
    ] as const) {
      expect({ where, cvv, found: containsValue(values, cvv) }).toEqual({ where, cvv, found: false });
    }
    expect(answered).not.toMatch(new RegExp(`"(cvv|cvc|securityCode)"`));
  }
  expect(logText).not.toMatch(/"(cvv|cvc|securityCode|cardNumber|pan)":"\d/);
}, 60_000);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** A CVV would leak as a string (it is one in the card JSON); numbers in logs are durations and counts. */
function containsValue(value: unknown, needle: string): boolean {
  if (typeof value === "string") return value === needle;
  if (Array.isArray(value)) return value.some((v) => containsValue(v, needle));
  if (value && typeof value === "object" && !(value instanceof Date)) return Object.values(value).some((v) => containsValue(v, needle));
  return false;
}
