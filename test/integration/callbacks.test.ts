import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OperationsService } from "../../gen/genstore/payment/v1/operations_service_pb";
import examples from "../fixtures/apiPageExamples.json";
import { signSandboxPayload } from "../../src/psp/sandbox/webhooks";
import { startFakeGenstore, type FakeGenstore, type RecordedCall } from "../helpers/fakeGenstore";
import { cardBody, genstoreClient, ledger, outboxDrained, storedPayment, uniqueId } from "../helpers/payments";
import { startTestServer, withAdminToken, type TestServer } from "../helpers/testServer";

// Results reach Genstore (decisions.md D7): the service against a fake Genstore recording every call.
let genstore: FakeGenstore;
let server: TestServer;
let gs: ReturnType<typeof genstoreClient>;
let ops: ReturnType<typeof createClient<typeof OperationsService>>;

beforeAll(async () => {
  genstore = await startFakeGenstore();
  server = await startTestServer({
    callbackBaseUrl: genstore.url,
    sandbox: { latencyMs: 0, asyncDelayMs: 300, webhookSecret: "whsec_test" },
    reconcile: { intervalMs: 150, minAgeMs: 400 },
  });
  gs = genstoreClient(server);
  ops = createClient(OperationsService, createGrpcTransport({ baseUrl: server.url, interceptors: [withAdminToken] }));
});
afterAll(async () => {
  await server.stop();
  await genstore.stop();
});
beforeEach(() => genstore.respondWith(() => ({ status: 200 })));

const base = "/api/202412/app";
const forId = (id: string) => (calls: RecordedCall[]) => calls.filter((c) => JSON.stringify(c.body).includes(`"${id}"`));
const acked = (id: string) => forId(id)(genstore.acknowledged());

async function settled(id: string, count: number) {
  await genstore.waitFor(() => acked(id).length >= count);
  await outboxDrained(server, id); // nothing more may come
  return acked(id).map((c) => ({ method: c.method, path: c.path, token: c.token, body: c.body }));
}

describe("every sandbox card and merchant action gets exactly its callbacks", () => {
  test("4242, automatic capture: payment true", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: false }));
    const ch = (await storedPayment(server, id))?.channelPaymentId;
    expect(await settled(id, 1)).toEqual([
      { method: "PUT", path: `${base}/payment/${id}`, token: "token-test-shop", body: { paymentId: id, status: true, channelPaymentId: ch } },
    ]);
  });

  test("4242, manual capture: pre_authorize true, then capture, two refunds", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true }));
    const captureId = uniqueId("C");
    const capture = await gs.capture(id, "150.00", captureId);
    const r1 = uniqueId("R");
    const r2 = uniqueId("R");
    const refund1 = await gs.refund(id, "100.00", r1);
    const refund2 = await gs.refund(id, "50.00", r2);
    const ch = (await storedPayment(server, id))?.channelPaymentId;
    expect(await settled(id, 4)).toEqual([
      { method: "PUT", path: `${base}/pre_authorize/${id}`, token: "token-test-shop", body: { paymentId: id, status: true, channelPaymentId: ch } },
      {
        method: "PUT",
        path: `${base}/capture/${captureId}`,
        token: "token-test-shop",
        body: { captureId, paymentId: id, status: true, channelCaptureId: capture.body.channelCaptureId },
      },
      {
        method: "PUT",
        path: `${base}/refund/${r1}`,
        token: "token-test-shop",
        body: { refundId: r1, paymentId: id, status: true, channelRefundId: refund1.body.channelRefundId },
      },
      {
        method: "PUT",
        path: `${base}/refund/${r2}`,
        token: "token-test-shop",
        body: { refundId: r2, paymentId: id, status: true, channelRefundId: refund2.body.channelRefundId },
      },
    ]);
  });

  test("void: pre_authorize true, then void true", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true }));
    const voidId = uniqueId("V");
    const v = await gs.void(id, voidId);
    const calls = await settled(id, 2);
    expect(calls.map((c) => c.path)).toEqual([`${base}/pre_authorize/${id}`, `${base}/void/${voidId}`]);
    expect(calls[1]?.body).toEqual({ voidId, paymentId: id, status: true, channelVoidId: v.body.channelVoidId });
  });

  test.each([
    ["4000000000000002", "card declined"],
    ["4000000000009995", "insufficient funds"],
  ])("%s: payment false with the reason", async (card, reason) => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { card }));
    const ch = (await storedPayment(server, id))?.channelPaymentId;
    expect((await settled(id, 1)).map((c) => [c.path, c.body])).toEqual([
      [`${base}/payment/${id}`, { paymentId: id, status: false, channelPaymentId: ch, error: reason }],
    ]);
  });

  test("4000000000003220: nothing until the buyer passes 3-D Secure on the real page, then the result", async () => {
    for (const [action, expected] of [
      ["complete", { status: true }],
      ["fail", { status: false, error: "3-D Secure authentication failed" }],
    ] as const) {
      const id = uniqueId("PI");
      const res = await gs.pay(cardBody(server, id, { card: "4000000000003220", manualCapture: false }));
      // Waiting for the buyer: no result is queued, so none can be sent.
      expect(await storedPayment(server, id)).toMatchObject({ state: "requires_action", callbacks: [] });
      expect(acked(id)).toEqual([]);
      // Follow the form like a browser: GET the page, POST its form, follow the redirects.
      const page = await (await fetch(String(res.body.threeDsUrl))).text();
      const form = /<form method="post" action="([^"]+)">/.exec(page);
      const submitted = await fetch(new URL(String(form?.[1]), String(res.body.threeDsUrl)), {
        method: "POST",
        body: `action=${action}`,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        redirect: "manual",
      });
      const back = await fetch(String(submitted.headers.get("location")), { redirect: "manual" });
      expect(back.headers.get("location")).toBe("https://shop.example/pay/result");
      const calls = await settled(id, 1);
      expect(calls.map((c) => c.path)).toEqual([`${base}/payment/${id}`]);
      expect(calls[0]?.body).toMatchObject({ paymentId: id, ...expected });
    }
  });

  test("offsite: the buyer pays on the hosted page and the result follows", async () => {
    const id = uniqueId("PO");
    const body = JSON.parse(examples.offsitePayment);
    body.paymentId = id;
    const redirectUrl = String((await gs.payOffsite(body)).body.redirectUrl);
    const submitted = await fetch(redirectUrl, {
      method: "POST",
      body: "action=pay",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      redirect: "manual",
    });
    const back = await fetch(String(submitted.headers.get("location")), { redirect: "manual" });
    expect(back.headers.get("location")).toBe("https://www.xxx.shop/pay/result");
    expect((await settled(id, 1)).map((c) => [c.path, c.body.status])).toEqual([[`${base}/pre_authorize/${id}`, true]]);
  });

  test("4000000000000259 (async) ends final by the sandbox's webhook, and its callback is sent", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { card: "4000000000000259", manualCapture: false }));
    expect((await settled(id, 1)).map((c) => [c.path, c.body.status])).toEqual([[`${base}/payment/${id}`, true]]);
    const p = await storedPayment(server, id);
    expect(p?.timeline.map((e: { event: string }) => e.event)).toContain("psp webhook: approved");
  });

  test("4000000000000119 (answer lost) ends final by reconciliation, and its callback is sent", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { card: "4000000000000119", manualCapture: true }));
    expect((await settled(id, 1)).map((c) => [c.path, c.body.status])).toEqual([[`${base}/pre_authorize/${id}`, true]]);
    const p = await storedPayment(server, id);
    expect(p?.timeline.find((e: { requestId?: string }) => e.requestId === "reconciler")).toMatchObject({ event: "psp status: authorized" });
  });

  test("4000000000005126: the refund's failure is reported", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { card: "4000000000005126", manualCapture: false }));
    const refundId = uniqueId("R");
    await gs.refund(id, "5.00", refundId);
    const calls = await settled(id, 2);
    expect(calls[1]).toMatchObject({
      path: `${base}/refund/${refundId}`,
      body: { refundId, status: false, error: "refund failed: this test card refuses refunds" },
    });
  });
});

describe("delivery through a Genstore outage", () => {
  test("500s, then 429 with Retry-After, then 200: every callback arrives once acknowledged, in order, with its history", async () => {
    const id = uniqueId("PI");
    let failures = 0;
    // Only this payment's callbacks see the outage; other tests' stragglers are not counted.
    genstore.respondWith((c) => {
      if (c.body.paymentId !== id) return { status: 200 };
      if (failures < 4) {
        failures++;
        return { status: 500, body: '{"error":"down"}' };
      }
      if (failures === 4) {
        failures++;
        return { status: 429, headers: { "retry-after": "1" }, body: '{"error":"slow down"}' };
      }
      return { status: 200 };
    });
    const started = Date.now();
    await gs.pay(cardBody(server, id, { manualCapture: true }));
    const captureId = uniqueId("C");
    await gs.capture(id, "200.00", captureId);
    await genstore.waitFor(() => acked(id).length === 2, 15_000);
    // The capture never overtook the authorization.
    expect(forId(id)(genstore.calls).map((c) => [c.path.split("/")[4], c.status])).toEqual([
      ["pre_authorize", 500],
      ["pre_authorize", 500],
      ["pre_authorize", 500],
      ["pre_authorize", 500],
      ["pre_authorize", 429],
      ["pre_authorize", 200],
      ["capture", 200],
    ]);
    const retryAfterHonoured = forId(id)(genstore.calls)[5]!.at - forId(id)(genstore.calls)[4]!.at;
    expect(retryAfterHonoured).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(15_000);

    // Genstore has answered; our record of the answer follows a moment later.
    let timeline = await ops.getPaymentTimeline({ shopId: "test-shop", paymentId: id });
    for (let i = 0; i < 100 && timeline.callbacks.some((c) => c.state !== "delivered"); i++) {
      await new Promise((r) => setTimeout(r, 20));
      timeline = await ops.getPaymentTimeline({ shopId: "test-shop", paymentId: id });
    }
    const pre = timeline.callbacks.find((c) => c.kind === "pre_authorize");
    expect(pre?.state).toBe("delivered");
    expect(pre?.attempts.map((a) => a.httpStatus)).toEqual([500, 500, 500, 500, 429, 200]);
    expect(pre?.attempts[4]?.error).toBe('HTTP 429: {"error":"slow down"}');
    expect(timeline.callbacks.find((c) => c.kind === "capture")?.attempts.map((a) => a.httpStatus)).toEqual([200]);
    expect(timeline.events.map((e) => e.event)).toEqual(["payment received", "psp: authorized", "capture requested", "capture succeeded"]);
  });

  test("a refused callback (400) is parked at once, listed for operators, and redelivered on request", async () => {
    genstore.respondWith(() => ({ status: 400, body: '{"error":"bad request"}' }));
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { card: "4000000000000002" }));
    await genstore.waitFor(() => forId(id)(genstore.calls).length === 1);
    await outboxDrained(server, id); // parked: no further attempt
    expect(forId(id)(genstore.calls)).toHaveLength(1);
    const parked = (await ops.listParkedCallbacks({ shopId: "test-shop" })).callbacks.filter((c) => c.paymentId === id);
    expect(parked).toEqual([expect.objectContaining({ id: `payment:${id}`, state: "parked", parkedReason: 'HTTP 400: {"error":"bad request"}' })]);
    expect(JSON.parse(parked[0]!.bodyJson)).toMatchObject({ paymentId: id, status: false, error: "card declined" });

    genstore.respondWith(() => ({ status: 200 }));
    expect((await ops.redeliverCallbacks({ shopId: "test-shop", paymentId: id })).requeued).toBe(1);
    await genstore.waitFor(() => acked(id).length === 1);
    expect(acked(id)[0]?.body).toEqual(forId(id)(genstore.calls)[0]?.body); // the same value, re-sent unchanged
    expect((await ops.listParkedCallbacks({ shopId: "test-shop" })).callbacks.filter((c) => c.paymentId === id)).toEqual([]);
  });
});

describe("PSP webhooks", () => {
  test("a webhook with a bad signature is refused and changes nothing", async () => {
    const res = await fetch(`${server.url}/psp/sandbox/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", "sandbox-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` },
      body: JSON.stringify({
        id: "evt_forged",
        type: "charge.updated",
        created: Date.now(),
        data: { idempotencyKey: "x", reference: "ch_x", status: "captured" },
      }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "webhook signature does not match" });
    expect(await server.db.collection("webhook_events").countDocuments({ _id: "sandbox:evt_forged" as never })).toBe(0);
  });

  test("a genuine event is applied once; a replay is a duplicate; a late contrary event never moves a final state back", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { card: "4000000000003220", manualCapture: false }));
    const p = await storedPayment(server, id);
    const post = (eventId: string, status: string) => {
      const body = JSON.stringify({
        id: eventId,
        type: "charge.updated",
        created: Date.now(),
        data: { idempotencyKey: p?.idempotencyKey, reference: p?.channelPaymentId, status },
      });
      return fetch(`${server.url}/psp/sandbox/webhooks`, {
        method: "POST",
        headers: { "content-type": "application/json", "sandbox-signature": signSandboxPayload("whsec_test", body, Date.now()) },
        body,
      });
    };
    const eventId = `evt_${id}`;
    expect(await (await post(eventId, "captured")).json()).toEqual({ received: true });
    expect(await (await post(eventId, "captured")).json()).toEqual({ received: true, duplicate: true });
    expect((await storedPayment(server, id))?.state).toBe("captured");
    expect((await post(`${eventId}-late`, "declined")).status).toBe(200);
    expect((await storedPayment(server, id))?.state).toBe("captured");
    const calls = await settled(id, 1);
    expect(calls.map((c) => [c.path, c.body.status])).toEqual([[`${base}/payment/${id}`, true]]);
  });

  test("an old signature is refused", async () => {
    const body = JSON.stringify({ id: "evt_old", type: "charge.updated", created: 0, data: { idempotencyKey: "k", reference: "r", status: "captured" } });
    const res = await fetch(`${server.url}/psp/sandbox/webhooks`, {
      method: "POST",
      headers: { "sandbox-signature": signSandboxPayload("whsec_test", body, Date.now() - 10 * 60_000) },
      body,
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "webhook timestamp is outside the 5 minute tolerance" });
  });

  test("an unknown connector's webhook is a 404", async () => {
    expect((await fetch(`${server.url}/psp/nope/webhooks`, { method: "POST", body: "{}" })).status).toBe(404);
  });
});

test("Genstore's rate limit is kept per shop: a burst, then the refill rate, and every callback arrives", async () => {
  const limited = await startTestServer({ callbackBaseUrl: genstore.url, callbacks: { rateLimit: { capacity: 3, perSecond: 5 } } });
  try {
    const ids = Array.from({ length: 8 }, () => uniqueId("RL"));
    await Promise.all(ids.map((id) => genstoreClient(limited).pay(cardBody(limited, id, { manualCapture: false }))));
    await genstore.waitFor(() => ids.every((id) => acked(id).length === 1), 10_000);
    const times = ids.map((id) => acked(id)[0]!.at).sort((a, b) => a - b);
    const spread = times[times.length - 1]! - times[0]!;
    // 3 at once, then 5 more at 5 per second: about a second, never all at once.
    expect(spread).toBeGreaterThanOrEqual(800);
    expect(spread).toBeLessThan(4000);
  } finally {
    await limited.stop();
  }
});

describe("expiry", () => {
  test("an abandoned 3-D Secure payment fails after its time, is cancelled at the PSP, and Genstore hears it", async () => {
    const fast = await startTestServer({ callbackBaseUrl: genstore.url, reconcile: { intervalMs: 100, minAgeMs: 0, actionExpiryMs: 300 } });
    try {
      const id = uniqueId("PI");
      const res = await genstoreClient(fast).pay(cardBody(fast, id, { card: "4000000000003220", manualCapture: true }));
      await genstore.waitFor(() => acked(id).length === 1);
      expect(acked(id)[0]).toMatchObject({ path: `${base}/payment/${id}`, body: { status: false, error: "the buyer did not complete 3-D Secure in time" } });
      const p = await storedPayment(fast, id);
      expect(p?.state).toBe("failed");
      expect(await ledger(fast, { reference: p?.channelPaymentId })).toEqual([expect.objectContaining({ status: "cancelled" })]);
      // The page no longer takes the buyer's answer.
      const late = await fetch(String(res.body.threeDsUrl), {
        method: "POST",
        body: "action=complete",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        redirect: "manual",
      });
      expect(late.status).toBe(303);
      expect((await storedPayment(fast, id))?.state).toBe("failed");
    } finally {
      await fast.stop();
    }
  });
});
