import { createClient } from "@connectrpc/connect";
import { decodeEntries } from "../../src/store/storedEntries";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OperationsService } from "../../gen/genstore/payment/v1/operations_service_pb";
import { pspIdempotencyKey } from "../../src/payments/idempotencyKeys";
import { startFakeGenstore, type FakeGenstore, type RecordedCall } from "../helpers/fakeGenstore";
import { startCluster, type Cluster } from "../helpers/cluster";
import { sandboxBooks, uniqueId } from "../helpers/payments";
import { testAdminToken, withAdminToken } from "../helpers/testServer";
import { waitFor } from "../helpers/waitFor";

// Three service processes on one database (the first owns the embedded FerretDB, the others
// connect to it with MONGODB_URI), requests spread over all three: the races of
// concurrency.test.ts, then a SIGKILL of one instance mid-flight (README "Scaling out").
let genstore: FakeGenstore;
let cluster: Cluster;
const spread = <T>(n: number, call: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => call(i % 3)));

beforeAll(async () => {
  genstore = await startFakeGenstore();
  cluster = await startCluster(3, {
    GENSTORE_CALLBACK_BASE_URL: genstore.url,
    GENSTORE_ACCESS_TOKEN: "tok-scale",
    SANDBOX_LATENCY_MS: "15",
    LEASE_TTL_MS: "2000",
    CALLBACK_SCAN_MS: "300",
    CALLBACK_BACKOFF_BASE_MS: "50",
    CALLBACK_BACKOFF_MAX_MS: "300",
    RECONCILE_INTERVAL_MS: "300",
    RECONCILE_MIN_AGE_MS: "500",
    ADMIN_TOKEN: testAdminToken,
  });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  await genstore.stop();
});

// As the service reads it: on FerretDB a payment's cold fields are one text (storedEntries.ts).
const payment = async (id: string) => {
  const doc = await cluster.db.collection("payments").findOne({ genstoreId: id });
  return doc && (decodeEntries(doc) as unknown as typeof doc);
};
const books = (filter: Record<string, unknown>) => sandboxBooks(cluster.db).find(filter).toArray();

test("50 identical card payments over three instances: one PSP charge, 50 identical answers", async () => {
  const id = uniqueId("PI");
  const body = cluster.card(id, { manualCapture: false });
  const answers = await spread(50, (i) => cluster.client(i).pay(body));
  expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({ status: 200, body: { threeDsUrl: "", error: "" } })]));
  const p = await payment(id);
  expect(p?.state).toBe("captured");
  expect(await books({ type: "charge", key: { $regex: `/${p?.idempotencyKey}$` } })).toHaveLength(1);
});

test("20 refunds of 7.00 against 100.00 over three instances: exactly 14 succeed", async () => {
  const id = uniqueId("PI");
  await cluster.client(0).pay(cluster.card(id, { manualCapture: false, amount: "100.00" }));
  // A refund still waiting behind the others past the PSP budget is answered 503: Genstore retries.
  const answerOf = async (refundId: string, i: number) => {
    for (;;) {
      const a = await cluster.client(i).refund(id, "7.00", refundId);
      if (a.status !== 503) return a;
    }
  };
  const answers = await spread(20, (i) => answerOf(uniqueId("R"), i));
  const ok = answers.filter((a) => a.status === 200 && !a.body.error);
  const refused = answers.filter((a) => a.status === 200 && /exceeds the .* left to refund/.test(String(a.body.error)));
  expect([ok.length, refused.length]).toEqual([14, 6]);
  const p = await payment(id);
  expect(p).toMatchObject({ refundedMinor: 9800, refundableMinor: 200, refundReservedMinor: 0, refundsInFlight: [], state: "partially_refunded" });
  const refunds = await books({ type: "refund", chargeReference: p?.channelPaymentId, status: "succeeded" });
  expect(refunds.reduce((sum, r) => sum + r.amount, 0)).toBe(9800);
});

test("10 competing captures over three instances: one captures", async () => {
  const id = uniqueId("PI");
  await cluster.client(1).pay(cluster.card(id, { manualCapture: true, amount: "100.00" }));
  const answers = await spread(10, (i) => cluster.client(i).capture(id, `${50 + i}.00`));
  expect(answers.filter((a) => a.status === 200 && a.body.channelCaptureId)).toHaveLength(1);
  expect(answers.filter((a) => a.status === 200 && a.body.channelCaptureId === "" && /already captured|in progress/.test(String(a.body.error)))).toHaveLength(
    9,
  );
  const p = await payment(id);
  expect(p?.state).toBe("captured");
  expect(await books({ type: "capture", chargeReference: p?.channelPaymentId })).toHaveLength(1);
});

test("void racing capture on two instances: one winner, five times over", async () => {
  for (let round = 0; round < 5; round++) {
    const id = uniqueId("PI");
    await cluster.client(round % 3).pay(cluster.card(id, { manualCapture: true }));
    const [capture, voided] = await Promise.all([cluster.client(round % 3).capture(id, "200.00"), cluster.client((round + 1) % 3).void(id)]);
    expect([capture, voided].filter((a) => a.status === 200 && !a.body.error)).toHaveLength(1);
    const p = await payment(id);
    expect(["captured", "voided"]).toContain(p?.state);
    expect(await books({ chargeReference: p?.channelPaymentId, status: "succeeded" })).toHaveLength(1);
  }
});

test("every callback of those races was delivered once: one instance at a time drains a payment's outbox", async () => {
  await waitFor("every outbox to drain", async () => (await cluster.db.collection("payments").countDocuments({ nextCallbackAt: { $ne: null } })) === 0, 20_000);
  const paths = genstore.acknowledged().map((c) => c.path);
  // 1 (storm) + 1 + 14 refunds + 2 (capture race) + 5 × 2 (void or capture)
  expect(paths).toHaveLength(28);
  expect(paths.filter((p, i) => paths.indexOf(p) !== i)).toEqual([]);
});

test("each instance names itself in its logs and metrics, with its leases", async () => {
  const metrics = await (await fetch(`${cluster.instances[1]!.url}/metrics`)).text();
  expect(metrics).toMatch(/^instance_info\{instance_id="i2",shared_database="true"\} 1$/m);
  expect(Number(/^lease_acquisitions_total\{result="acquired"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  expect(metrics).toMatch(/^leases_held \d+$/m);
  expect(cluster.instances[1]!.output.join("")).toMatch(/^\{"level":"info","time":"[^"]+","instance":"i2",.*"msg":"listening"/m);
});

test("the operators' listing on one instance shows the payments the others made", async () => {
  const ids = [uniqueId("PL"), uniqueId("PL")];
  await Promise.all(ids.map((id, i) => cluster.client(i + 1).pay(cluster.card(id, { manualCapture: true }))));
  const ops = createClient(OperationsService, createGrpcTransport({ baseUrl: cluster.instances[0]!.url, interceptors: [withAdminToken] }));
  for (const id of ids) expect((await ops.listPayments({ paymentId: id })).payments.map((p) => [p.paymentId, p.state])).toEqual([[id, "authorized"]]);
});

/** Genstore's acknowledged callbacks about a payment or operation id, as [kind, status]. */
const resultsFor = (id: string) =>
  genstore
    .acknowledged()
    .filter((c: RecordedCall) => c.path.endsWith(`/${id}`))
    .map((c) => [c.path.split("/")[4], c.body.status]);

test("SIGKILL of one instance mid payments, captures and callbacks: the other two finish its work after its leases expire", async () => {
  // Genstore is down: every callback stays pending, retried by whichever instance holds it.
  genstore.respondWith(() => ({ status: 503, body: '{"error":"maintenance"}' }));
  const authorized = uniqueId("KA");
  await cluster.client(0).pay(cluster.card(authorized, { manualCapture: true }));
  // The victim: a slow PSP, so that its calls are booked at the sandbox but unanswered when it dies.
  cluster.instances[2]!.child.kill("SIGTERM");
  await cluster.instances[2]!.exited;
  const victim = await cluster.start(2, { SANDBOX_LATENCY_MS: "1500", PSP_TIMEOUT_MS: "300" });
  const inflight = {
    [uniqueId("KB")]: { card: "4242424242424242", manualCapture: false, kind: "payment", status: true, state: "captured" },
    [uniqueId("KB")]: { card: "4242424242424242", manualCapture: true, kind: "pre_authorize", status: true, state: "authorized" },
    [uniqueId("KB")]: { card: "4000000000009995", manualCapture: false, kind: "payment", status: false, state: "declined" },
  };
  const alongside = [uniqueId("KC"), uniqueId("KC")];
  const captureId = uniqueId("KCAP");
  const captureKey = pspIdempotencyKey("capture", "default", captureId);
  const bodies = Object.fromEntries(Object.entries(inflight).map(([id, o]) => [id, cluster.card(id, o)]));
  const answers = await Promise.all([
    ...Object.values(bodies).map((b) => cluster.client(2).pay(b)),
    // Not yet claimed within the victim's short PSP budget (a busy machine): 503, and Genstore retries.
    (async () => {
      for (;;) {
        const a = await cluster.client(2).capture(authorized, "200.00", captureId);
        if (a.status !== 503) return a;
      }
    })(),
    ...alongside.map((id, i) => cluster.client(i).pay(cluster.card(id, { manualCapture: false }))),
  ]);
  for (const a of answers) expect(a.status).toBe(200);
  const keys = await Promise.all(Object.keys(inflight).map(async (id) => String((await payment(id))?.idempotencyKey)));
  await waitFor("the victim's charges and capture to be booked at the sandbox", async () => {
    const booked = await books({ createdAt: { $gte: new Date(Date.now() - 60_000) } });
    return keys.every((k) => booked.some((e) => String(e.key).endsWith(`/${k}`))) && booked.some((e) => String(e.key).endsWith(`/${captureKey}`));
  });
  victim.child.kill("SIGKILL");
  expect(await victim.exited).toBeNull();
  expect((await payment(Object.keys(inflight)[0]!))?.state).toBe("received");
  expect(await cluster.db.collection("leases").countDocuments({ owner: "i3" })).toBeGreaterThan(0);

  // Genstore is back and retries the payments it got no final word on, on the survivors.
  genstore.respondWith(() => ({ status: 200 }));
  for (const [i, b] of Object.values(bodies).entries()) expect((await cluster.client(i % 2).pay(b)).status).toBe(200);
  const all = [...Object.keys(inflight), ...alongside];
  await genstore.waitFor(() => all.every((id) => resultsFor(id).length > 0) && resultsFor(captureId).length > 0, 30_000);

  for (const [id, o] of Object.entries(inflight)) {
    expect({ id, state: (await payment(id))?.state, results: [...new Set(resultsFor(id).map(String))] }).toEqual({
      id,
      state: o.state,
      results: [String([o.kind, o.status])],
    });
  }
  for (const id of alongside) expect({ id, results: [...new Set(resultsFor(id).map(String))] }).toEqual({ id, results: ["payment,true"] });
  expect([...new Set(resultsFor(captureId).map(String))]).toEqual(["capture,true"]);
  expect((await payment(authorized))?.state).toBe("captured");
  // One PSP effect per operation, in the sandbox's own books.
  for (const k of keys) expect({ k, effects: (await books({ key: { $regex: `/${k}$` } })).length }).toEqual({ k, effects: 1 });
  expect(await books({ key: { $regex: `/${captureKey}$` } })).toHaveLength(1);
  // The survivors took over the dead instance's leases.
  const logs = [cluster.instances[0]!, cluster.instances[1]!].flatMap((s) => s.output.join("").split("\n"));
  expect(logs.some((l) => l.includes('"msg":"took over an expired lease"') && l.includes('"from":"i3"'))).toBe(true);
}, 60_000);
