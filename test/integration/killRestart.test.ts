import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient, type Db } from "mongodb";
import { decodeEntries } from "../../src/store/storedEntries";
import examples from "../fixtures/apiPageExamples.json";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { metricTotal } from "../helpers/metrics";
import { startServiceProcess, type ServiceProcess } from "../helpers/serviceProcess";
import { sandboxFileBooks } from "../helpers/payments";
import { waitFor } from "../helpers/waitFor";

// Kill tests: SIGKILL while PSP calls are booked but unanswered, captures are in flight
// and callbacks are pending; after a restart everything ends final, every callback is delivered,
// and no PSP effect happened twice (checked in the sandbox's own books).
let genstore: FakeGenstore;
let client: MongoClient;
let db: Db;
let dataDir: string;
let env: Record<string, string>;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  genstore = await startFakeGenstore();
  client = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await client.connect();
  const database = `kill_${randomBytes(4).toString("hex")}`;
  db = client.db(database);
  dataDir = mkdtempSync(join(tmpdir(), "genstore-kill-"));
  env = {
    DATA_DIR: dataDir,
    MONGODB_URI: process.env.TEST_MONGODB_URI ?? "",
    MONGODB_DATABASE: database,
    GENSTORE_CALLBACK_BASE_URL: genstore.url,
    GENSTORE_ACCESS_TOKEN: "tok-kill",
    SANDBOX_LATENCY_MS: "1200",
    // The sandbox's books as beside the embedded database: an SQLite file that a SIGKILL must not lose.
    SANDBOX_BOOKS: "file",
    PSP_TIMEOUT_MS: "300",
    CALLBACK_BACKOFF_BASE_MS: "50",
    CALLBACK_BACKOFF_MAX_MS: "400",
    RECONCILE_INTERVAL_MS: "200",
    RECONCILE_MIN_AGE_MS: "500",
  };
});
afterAll(async () => {
  service?.child.kill("SIGKILL");
  await db.dropDatabase();
  await client.close();
  await genstore.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The sandbox's books, from the file the service keeps them in (none before its first start). */
const books = async () => (existsSync(join(dataDir, "psp", "sandbox", "ledger.sqlite")) ? sandboxFileBooks(dataDir) : []);

async function post(url: string, path: string, body: unknown) {
  const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test("after a SIGKILL mid-flight and a restart, every payment ends final, every callback arrives, nothing is charged twice", async () => {
  genstore.respondWith(() => ({ status: 503, body: '{"error":"maintenance"}' }));
  service = await startServiceProcess(env);
  const url = service.url;
  const publicKey = ((await (await fetch(`${url}/genstore/v1/card-encryption-key`)).json()) as { publicKey: string }).publicKey;
  const run = randomBytes(3).toString("hex");
  const body = (id: string, card: string, manualCapture: boolean) => {
    const b = JSON.parse(examples.cardPayment);
    b.paymentId = id;
    b.manualCapture = String(manualCapture);
    b.paymentMethod.data = { ...encryptLikeGenstore(publicKey, testCard(card)), returnUrl: "https://shop.example/back" };
    return b;
  };

  // Phase 1: payments that complete; their callbacks stay pending (Genstore answers 503).
  const done = [body(`K${run}-A1`, "4242424242424242", false), body(`K${run}-A2`, "4242424242424242", true), body(`K${run}-A3`, "4000000000000002", false)];
  await Promise.all(done.map((b) => post(url, "/genstore/v1/payments/card", b)));
  const finalStates = ["captured", "authorized", "declined"];
  await waitFor(
    "phase 1's payments to be final",
    async () => (await db.collection("payments").countDocuments({ genstoreId: { $regex: `^K${run}-A` }, state: { $in: finalStates } })) === 3,
  );
  const a2 = await (await fetch(`${url}/genstore/v1/payments/K${run}-A2`)).json();
  expect(a2).toMatchObject({ status: "AUTH_SUCCESS" });

  // Phase 2: PSP calls booked at the sandbox (half its latency in) but not answered yet,
  // and a capture in the same state. Each request is answered PROCESSING within the budget.
  const inflight = [
    body(`K${run}-B1`, "4242424242424242", false),
    body(`K${run}-B2`, "4242424242424242", true),
    body(`K${run}-B3`, "4000000000009995", false),
    body(`K${run}-B4`, "4000000000000119", true),
  ];
  const answers = await Promise.all([
    ...inflight.map((b) => post(url, "/genstore/v1/payments/card", b)),
    post(url, "/genstore/v1/captures", { captureId: `K${run}-CAP`, paymentId: `K${run}-A2`, amount: "200.00", test: true }),
  ]);
  for (const a of answers) expect(a).toMatchObject({ status: 200 });
  // Booked at the sandbox half-way through its latency, not answered yet: kill now.
  await waitFor("the four charges and the capture to be booked", async () => {
    const booked = (await books()).filter((e) => e.createdAt >= new Date(Date.now() - 60_000));
    return booked.filter((e) => e.type === "charge").length >= 7 && booked.some((e) => e.type === "capture");
  });
  service.child.kill("SIGKILL");
  expect(await service.exited).toBeNull();
  const states = await db
    .collection("payments")
    .find({ genstoreId: { $regex: `^K${run}-B` } })
    .toArray();
  expect(states.map((p) => p.state)).toEqual(["received", "received", "received", "received"]);
  expect(await db.collection("captures").findOne({ genstoreId: `K${run}-CAP` })).toMatchObject({ state: "processing" });
  expect(genstore.acknowledged()).toHaveLength(0);

  // Restart; Genstore is back.
  genstore.respondWith(() => ({ status: 200 }));
  service = await startServiceProcess(env);
  const all = [...done, ...inflight].map((b) => b.paymentId as string);
  const finalFor = (id: string) => genstore.acknowledged().filter((c) => c.path.endsWith(`/payment/${id}`) || c.path.endsWith(`/pre_authorize/${id}`));
  await genstore.waitFor(
    () => all.every((id) => finalFor(id).length > 0) && genstore.acknowledged().some((c) => c.path.endsWith(`/capture/K${run}-CAP`)),
    20_000,
  );

  // Genstore retries the requests it got no final word on: the same answers, no new effects.
  for (const b of inflight) expect((await post(service.url, "/genstore/v1/payments/card", b)).status).toBe(200);

  const expected: Record<string, [string, boolean]> = {
    A1: ["payment", true],
    A2: ["pre_authorize", true],
    A3: ["payment", false],
    B1: ["payment", true],
    B2: ["pre_authorize", true],
    B3: ["payment", false],
    B4: ["pre_authorize", true],
  };
  for (const [suffix, [kind, status]] of Object.entries(expected)) {
    const id = `K${run}-${suffix}`;
    const calls = finalFor(id);
    expect({ id, calls: calls.map((c) => [c.path.split("/")[4], c.body.status, c.token]) }).toEqual({ id, calls: [[kind, status, "tok-kill"]] });
    const got = (await (await fetch(`${service.url}/genstore/v1/payments/${id}`)).json()) as { status: string };
    expect({ id, status: got.status }).toEqual({
      id,
      status: kind === "pre_authorize" ? (suffix === "A2" ? "SUCCESS" : "AUTH_SUCCESS") : status ? "SUCCESS" : "FAILURE",
    });
  }
  expect(
    genstore
      .acknowledged()
      .filter((c) => c.path.endsWith(`/capture/K${run}-CAP`))
      .map((c) => c.body.status),
  ).toEqual([true]);

  // The sandbox's own books: one charge per payment, one capture, nothing twice.
  const payments = (
    await db
      .collection("payments")
      .find({ genstoreId: { $regex: `^K${run}-` } })
      .toArray()
  ).map((d) => decodeEntries(d) as unknown as typeof d);
  const ledger = await books();
  for (const p of payments) {
    expect({ id: p.genstoreId, charges: ledger.filter((e) => String(e.key).endsWith(`/${p.idempotencyKey}`)).length }).toEqual({
      id: p.genstoreId,
      charges: 1,
    });
  }
  const charges = ledger.filter((e) => e.type === "charge");
  expect(charges).toHaveLength(payments.length);
  expect(ledger.filter((e) => e.type === "capture")).toHaveLength(1);
  // No callback was acknowledged twice.
  const keys = genstore.acknowledged().map((c) => c.path);
  expect(new Set(keys).size).toBe(keys.length);

  service.child.kill("SIGTERM");
  expect(await service.exited).toBe(0);
  service = undefined;
}, 60_000);

test("payments claimed just before a SIGKILL, never sent to the PSP: Genstore's retry completes them; one never retried is declined after the retry window", async () => {
  // The sandbox books a charge half-way through its latency: a kill within the first second
  // leaves payments claimed by us and unknown to the PSP.
  const claimedEnv = { ...env, SANDBOX_LATENCY_MS: "2000", PSP_TIMEOUT_MS: "300", PAYMENT_RETRY_WINDOW_MS: "15000", RECONCILE_MIN_AGE_MS: "300" };
  genstore.respondWith(() => ({ status: 200 }));
  service = await startServiceProcess(claimedEnv);
  const url = service.url;
  const publicKey = ((await (await fetch(`${url}/genstore/v1/card-encryption-key`)).json()) as { publicKey: string }).publicKey;
  const run = randomBytes(3).toString("hex");
  const body = (id: string) => {
    const b = JSON.parse(examples.cardPayment);
    b.paymentId = id;
    b.manualCapture = "false";
    b.paymentMethod.data = { ...encryptLikeGenstore(publicKey, testCard("4242424242424242")), returnUrl: "https://shop.example/back" };
    return b;
  };
  const ids = ["C1", "C2", "C3", "C4"].map((s) => `K${run}-${s}`);
  const answers = await Promise.all(ids.map((id) => post(url, "/genstore/v1/payments/card", body(id))));
  for (const a of answers) expect(a).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
  const claimed = () => db.collection("payments").countDocuments({ genstoreId: { $in: ids }, state: "received" });
  await waitFor("the four payments to be claimed", async () => (await claimed()) === 4);
  service.child.kill("SIGKILL");
  expect(await service.exited).toBeNull();
  const keys = (
    await db
      .collection("payments")
      .find({ genstoreId: { $in: ids } })
      .toArray()
  ).map((p) => String((decodeEntries(p) as unknown as typeof p).idempotencyKey));
  const charges = async () => (await books()).filter((e) => e.type === "charge" && keys.some((k) => e.key.endsWith(`/${k}`))).length;
  expect(await charges()).toBe(0);
  expect(await claimed()).toBe(4);

  // Restart; Genstore retries three of them, with the card again. The fourth it never retries.
  service = await startServiceProcess(claimedEnv);
  const retried = ids.slice(0, 3);
  for (const a of await Promise.all(retried.map((id) => post(service!.url, "/genstore/v1/payments/card", body(id))))) expect(a.status).toBe(200);
  const resultsFor = (id: string) => genstore.acknowledged().filter((c) => c.path.endsWith(`/payment/${id}`));
  await genstore.waitFor(() => retried.every((id) => resultsFor(id).length > 0), 20_000);
  for (const id of retried) {
    expect({ id, results: resultsFor(id).map((c) => c.body.status) }).toEqual({ id, results: [true] });
    const got = (await (await fetch(`${service.url}/genstore/v1/payments/${id}`)).json()) as { status: string };
    expect({ id, status: got.status }).toEqual({ id, status: "SUCCESS" });
  }
  const c4 = ids[3]!;
  // The reconciler asks the PSP about it again (the only payment still open: any "absent" answer
  // from now on is about it) and leaves it open: the retry window has not passed.
  const absentAnswers = () => metricTotal(service!.url, "psp_calls_total", { connector: "sandbox", call: "payment status", outcome: "absent" });
  const seen = await absentAnswers();
  await waitFor("the reconciler to ask the PSP about the unretried payment", async () => (await absentAnswers()) > seen, 10_000);
  const c4Before = await db.collection("payments").findOne({ genstoreId: c4 });
  expect(Date.now() - new Date(c4Before?.createdAt).getTime()).toBeLessThan(15_000);
  expect(c4Before?.state).toBe("received");
  expect(resultsFor(c4)).toHaveLength(0);

  // After the window, with no trace at the PSP, it is declined and Genstore hears it once.
  await genstore.waitFor(() => resultsFor(c4).length > 0, 20_000);
  expect(resultsFor(c4).map((c) => [c.body.status, c.body.error])).toEqual([
    [false, "the payment was never sent to the payment provider and Genstore did not retry it within 15 s"],
  ]);
  const c4After = await db.collection("payments").findOne({ genstoreId: c4 });
  expect(c4After && decodeEntries(c4After).timeline.map((e) => e.event)).toContain("retry window passed: the PSP has no trace of it");
  // One charge for each retried payment, none for the one never retried.
  expect(await charges()).toBe(3);

  service.child.kill("SIGTERM");
  expect(await service.exited).toBe(0);
  service = undefined;
}, 90_000);
