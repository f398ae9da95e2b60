import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ShopService } from "../../gen/genstore/payment/v1/shop_service_pb";
import { MongoClient } from "mongodb";
import { startEmbeddedDatabase } from "../../src/store/embeddedDatabase";
import { cardBody, genstoreClient, uniqueId } from "../helpers/payments";
import { startServiceProcess } from "../helpers/serviceProcess";
import { countAllDocuments, rawRequest, startTestServer, type TestServer } from "../helpers/testServer";
import { waitFor } from "../helpers/waitFor";

// decisions.md D14: what a payment endpoint on the internet must refuse, and what an
// operator must be able to see.
const secret = "cs_test_0123456789abcdef";

function signedQuery(params: Record<string, string>): string {
  const message = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join("&");
  const hmac = createHmac("sha256", secret).update(message).digest("hex");
  return `${Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join("&")}&hmac=${hmac}`;
}

describe("Genstore request signatures (enforced)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ security: { genstoreClientSecret: secret, requireSignature: true } });
  });
  afterAll(async () => {
    await server.stop();
  });
  const now = () => String(Math.floor(Date.now() / 1000));
  const bodySigned = (body: string) => ({ "x-genstore-hmac-sha256": createHmac("sha256", secret).update(body).digest("hex") });
  const post = (query: string, body: string, headers: Record<string, string> = {}) =>
    rawRequest(`${server.url}/genstore/v1/payments/card?${query}`, "POST", body, headers);

  test("a correctly signed request passes", async () => {
    const res = await post(signedQuery({ shopId: "test-shop", timestamp: now() }), JSON.stringify(cardBody(server, uniqueId("PI"))));
    expect(res).toMatchObject({ status: 200, body: { threeDsUrl: "", error: "" } });
  });

  test("a correct body signature (hex or base64) passes for the default shop", async () => {
    for (const encoding of ["hex", "base64"] as const) {
      const body = JSON.stringify(cardBody(server, uniqueId("PI")));
      const res = await post("", body, { "x-genstore-hmac-sha256": createHmac("sha256", secret).update(body).digest(encoding) });
      expect(res.status).toBe(200);
    }
  });

  test("a body signature cannot pick the shop with an unsigned parameter: 401, nothing stored", async () => {
    const body = JSON.stringify(cardBody(server, uniqueId("PI")));
    const before = await countAllDocuments(server.db);
    const res = await post("shopId=test-shop", body, { "x-genstore-hmac-sha256": createHmac("sha256", secret).update(body).digest("hex") });
    expect(res).toMatchObject({
      status: 401,
      body: {
        error: "the shop is named only by an unsigned header or parameter: sign the query (shopId, timestamp) or give the shop a client secret of its own",
      },
    });
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test.each([
    ["a wrong hmac", () => `shopId=test-shop&timestamp=${now()}&hmac=${"ab".repeat(32)}`, {}, "the hmac parameter does not match the request"],
    [
      "a parameter changed after signing",
      () => signedQuery({ shopId: "test-shop", timestamp: now() }).replace("shopId=test-shop", "shopId=other-shop"),
      {},
      "the hmac parameter does not match the request",
    ],
    [
      "a stale timestamp",
      () => signedQuery({ shopId: "test-shop", timestamp: String(Math.floor(Date.now() / 1000) - 600) }),
      {},
      "the request's timestamp is more than 5 minutes away: it may be a replay",
    ],
    ["no signature at all", () => "shopId=test-shop", {}, "this request is not signed: Genstore's hmac parameter or X-Genstore-Hmac-Sha256 header is required"],
  ])("%s gets 401 and stores nothing", async (_name, query, headers, message) => {
    const before = await countAllDocuments(server.db);
    const res = await post(query(), JSON.stringify(cardBody(server, uniqueId("PI"))), headers);
    expect(res).toEqual({ status: 401, body: { error: message }, headers: expect.anything() });
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test("a replayed body with another request's signature gets 401 and stores nothing", async () => {
    const original = JSON.stringify(cardBody(server, uniqueId("PI")));
    const signature = createHmac("sha256", secret).update(original).digest("hex");
    const replayed = JSON.stringify(cardBody(server, uniqueId("PI")));
    const before = await countAllDocuments(server.db);
    const res = await post("shopId=test-shop", replayed, { "x-genstore-hmac-sha256": signature });
    expect(res).toMatchObject({ status: 401, body: { error: "the X-Genstore-Hmac-Sha256 header does not match the body" } });
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test("a body signature reads only the payment its body names: another in the path or query gets 401", async () => {
    const [mine, other] = [uniqueId("PI"), uniqueId("PI")];
    for (const id of [mine, other]) expect((await post(signedQuery({ timestamp: now() }), JSON.stringify(cardBody(server, id)))).status).toBe(200);
    const body = JSON.stringify({ paymentId: mine });
    const get = (path: string) => rawRequest(`${server.url}${path}`, "GET", body, bodySigned(body));
    const read = { status: 200, body: { status: "AUTH_SUCCESS", channelPaymentId: expect.stringMatching(/^ch_/), error: "" } };
    expect(await get(`/genstore/v1/payments/${mine}`)).toMatchObject(read);
    expect(await get(`/genstore/v1/payments?paymentId=${mine}`)).toMatchObject(read);
    const refused = { status: 401, body: { error: "X-Genstore-Hmac-Sha256 signs the body only: paymentId in the path or query must be the body's" } };
    expect(await get(`/genstore/v1/payments/${other}`)).toMatchObject(refused);
    expect(await get(`/genstore/v1/payments?paymentId=${other}`)).toMatchObject(refused);
  });

  test("a body signature over an empty body authorizes nothing, on Genstore JSON and on Connect's GET", async () => {
    const paymentId = uniqueId("PI");
    expect((await post(signedQuery({ timestamp: now() }), JSON.stringify(cardBody(server, paymentId)))).status).toBe(200);
    const empty = bodySigned("");
    const error = "X-Genstore-Hmac-Sha256 over an empty body authorizes nothing: send the request's fields in the signed JSON body, or sign the query";
    expect(await rawRequest(`${server.url}/genstore/v1/payments/${paymentId}`, "GET", undefined, empty)).toMatchObject({ status: 401, body: { error } });
    const message = encodeURIComponent(JSON.stringify({ paymentId }));
    const connectGet = await rawRequest(
      `${server.url}/genstore.payment.v1.PaymentService/GetPayment?encoding=json&message=${message}`,
      "GET",
      undefined,
      empty,
    );
    expect(connectGet).toMatchObject({ status: 401, body: { code: "unauthenticated", message: error } });
  });
});

describe("hardened input and operators' services", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  test.each([
    [{ paymentId: { $gt: "" } }, "paymentId must be a string"],
    [{ customer: { email: { $ne: null } } }, "customer.email must be a string"],
    [{ purchaseInfo: { items: [{ name: { $where: "sleep(1000)" } }] } }, "purchaseInfo.items[0].name must be a string"],
    [{ paymentMethod: { data: { cipherText: { $regex: ".*" } } } }, "paymentMethod.data.cipherText must be a string"],
  ])("operator injection %j gets 400", async (inject, message) => {
    const body = { ...cardBody(server, uniqueId("PI")), ...inject };
    if ("customer" in inject) body.customer = { ...cardBody(server, "x").customer, ...inject.customer };
    const before = await countAllDocuments(server.db);
    const res = await rawRequest(`${server.url}/genstore/v1/payments/card`, "POST", JSON.stringify(body));
    expect(res).toMatchObject({ status: 400, body: { error: message } });
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test("operator keys in unknown fields never reach the database", async () => {
    const id = uniqueId("PI");
    const res = await rawRequest(
      `${server.url}/genstore/v1/payments/card`,
      "POST",
      JSON.stringify({ ...cardBody(server, id), $where: "1", "a.b": 1, extra: { $gt: 1 } }),
    );
    expect(res.status).toBe(200);
    await server.app.settled();
    const stored = JSON.stringify(await server.db.collection("payments").findOne({ genstoreId: id }));
    expect(stored).not.toMatch(/\$where|"a\.b"|\$gt/);
  });

  test("malformed percent-encoding in a path gets 400 and the service keeps serving", async () => {
    expect(await rawRequest(`${server.url}/return/%E0%A4/x`, "GET", "")).toMatchObject({
      status: 400,
      body: { error: "malformed percent-encoding in the path" },
    });
    expect(await rawRequest(`${server.url}/psp/stripe/webhooks/%E0%A4`, "POST", "{}")).toMatchObject({ status: 400 });
    expect(await rawRequest(`${server.url}/genstore/v1/payments/%E0%A4`, "GET", "")).toMatchObject({
      status: 400,
      body: { error: "malformed percent-encoding in the path" },
    });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  test("a 1 MiB body gets 413", async () => {
    const res = await rawRequest(`${server.url}/genstore/v1/payments/card`, "POST", JSON.stringify({ pad: "x".repeat(1024 * 1024) }));
    expect(res).toMatchObject({ status: 413, body: { error: "request body is larger than 65536 bytes" } });
  });

  test("a burst over the shop's rate limit gets 429 with Retry-After, then recovers", async () => {
    const limited5 = await startTestServer({ background: false, security: { rateLimitPerShop: 5 } });
    try {
      const answers = await Promise.all(Array.from({ length: 30 }, () => rawRequest(`${limited5.url}/genstore/v1/payments/nope`, "GET")));
      const limited = answers.filter((a) => a.status === 429);
      expect(limited.length).toBeGreaterThanOrEqual(15);
      expect(limited[0]?.headers["retry-after"]).toBe("1");
      expect(limited[0]?.body.error).toBe("too many requests for shop test-shop; slow down and retry");
      // The bucket refills at 5 per second: asked at a gentler pace, the shop is served again.
      await waitFor(
        "the shop's bucket to refill",
        async () => (await genstoreClient(limited5).getPayment("nope")).body.error === "Not found payment information.",
        5000,
        300,
      );
    } finally {
      await limited5.stop();
    }
  });

  test("every answer carries the security headers", async () => {
    const res = await fetch(`${server.url}/genstore/v1/payments/nope`);
    expect(
      Object.fromEntries(["x-content-type-options", "x-frame-options", "referrer-policy", "strict-transport-security"].map((h) => [h, res.headers.get(h)])),
    ).toEqual({
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
      "strict-transport-security": "max-age=31536000; includeSubDomains",
    });
  });

  test("internal services need the operators' bearer token", async () => {
    const anonymous = createClient(ShopService, createGrpcTransport({ baseUrl: server.url }));
    await expect(anonymous.listShops({})).rejects.toMatchObject({ code: Code.Unauthenticated, rawMessage: "a valid operator bearer token is required" });
    const wrong = createClient(
      ShopService,
      createGrpcTransport({
        baseUrl: server.url,
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", "Bearer nope-nope-nope-nope");
            return next(req);
          },
        ],
      }),
    );
    await expect(wrong.listShops({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    // The Genstore routes do not take it as a way in either: there is no route to the service.
    const viaGenstore = await fetch(`${server.url}/genstore/v1/shops`, { headers: { authorization: "Bearer test-admin-token-0123456789" } });
    expect(viaGenstore.status).toBe(404);
  });

  test("/metrics exposes the series and they move as payments are made", async () => {
    const scrape = async () => (await fetch(`${server.url}/metrics`)).text();
    const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"=,]/g, (c) => `\\${c}`)} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
    const before = await scrape();
    for (const name of [
      "http_requests_total",
      "http_request_duration_seconds",
      "psp_calls_total",
      "payments_final_total",
      "callbacks_pending",
      "callbacks_parked",
      "callback_attempts_total",
      "card_decrypt_failures_total",
      "callback_delivery_lag_seconds",
    ]) {
      expect(before).toContain(`# TYPE ${name}`);
    }
    const gs = genstoreClient(server);
    await gs.pay(cardBody(server, uniqueId("PI"), { manualCapture: false }));
    await gs.pay(cardBody(server, uniqueId("PI"), { card: "4000000000000002" }));
    const bad = cardBody(server, uniqueId("PI"));
    bad.paymentMethod.data.iv = Buffer.alloc(12, 9).toString("base64");
    await gs.pay(bad);
    const after = await scrape();
    expect(
      value(after, 'psp_calls_total{connector="sandbox",call="payment",outcome="approved"}') -
        value(before, 'psp_calls_total{connector="sandbox",call="payment",outcome="approved"}'),
    ).toBe(1);
    expect(value(after, 'payments_final_total{state="declined"}') - value(before, 'payments_final_total{state="declined"}')).toBe(1);
    expect(value(after, "card_decrypt_failures_total") - value(before, "card_decrypt_failures_total")).toBe(1);
    expect(value(after, 'http_requests_total{route="POST /genstore/v1/payments/card",method="POST",status="200"}')).toBeGreaterThanOrEqual(2);
    expect(value(after, 'http_requests_total{route="POST /genstore/v1/payments/card",method="POST",status="400"}')).toBeGreaterThanOrEqual(1);
    expect(value(after, "callbacks_pending")).toBeGreaterThanOrEqual(1); // Genstore is unreachable in this test
  });
});

test("/readyz turns not-ready when the database stops and ready again when it is back", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "genstore-ready-"));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cacheDir = resolve(__dirname, "../../.cache");
  let db = await startEmbeddedDatabase({ dataDir, cacheDir, listen: `127.0.0.1:${port}` });
  const server = await startTestServer({ mongodbUri: db.uri });
  try {
    const ready = async () => {
      const res = await fetch(`${server.url}/readyz`);
      return { status: res.status, body: await res.json() };
    };
    expect(await ready()).toEqual({ status: 200, body: { status: "ready", database: true, cardKeys: true, dispatcher: true } });
    await db.stop();
    // The health monitor pings every second: the outage shows within a few.
    const down = await waitFor("/readyz to say not ready", async () => ((await ready()).status === 503 ? ready() : undefined), 10_000, 100);
    expect(down).toEqual({ status: 503, body: { status: "not ready", database: false, cardKeys: true, dispatcher: true } });
    db = await startEmbeddedDatabase({ dataDir, cacheDir, listen: `127.0.0.1:${port}` });
    const back = await waitFor("/readyz to say ready again", async () => ((await ready()).status === 200 ? ready() : undefined), 10_000, 100);
    expect(back).toEqual({ status: 200, body: { status: "ready", database: true, cardKeys: true, dispatcher: true } });
  } finally {
    await server.stop().catch(() => {});
    await db.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);

test("SIGTERM during load: requests in flight finish, then the process exits 0", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "genstore-term-"));
  const database = `term_${Date.now()}`;
  const client = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await client.connect();
  const service = await startServiceProcess({
    DATA_DIR: dataDir,
    MONGODB_URI: process.env.TEST_MONGODB_URI ?? "",
    MONGODB_DATABASE: database,
    SANDBOX_LATENCY_MS: "600",
  });
  try {
    const publicKey = ((await (await fetch(`${service.url}/genstore/v1/card-encryption-key`)).json()) as { publicKey: string }).publicKey;
    const fakeServer = { publicKey } as TestServer;
    const inflight = Array.from({ length: 12 }, () =>
      rawRequest(`${service.url}/genstore/v1/payments/card`, "POST", JSON.stringify(cardBody(fakeServer, uniqueId("PT"), { manualCapture: false }))),
    );
    // All twelve are in the service's hands (claimed, their PSP calls running) before the signal.
    await waitFor("the twelve payments to be claimed", async () => (await client.db(database).collection("payments").countDocuments()) === 12);
    service.child.kill("SIGTERM");
    const answers = await Promise.all(inflight);
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
    expect(answers.map((a) => a.body)).toEqual(Array(12).fill({ threeDsUrl: "", error: "" }));
    expect(await service.exited).toBe(0);
    expect(service.output.join("")).toContain("SIGTERM: shutting down");
  } finally {
    service.child.kill("SIGKILL");
    await client
      .db(database)
      .dropDatabase()
      .catch(() => {});
    await client.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 30_000);
