import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ShopService } from "../../gen/genstore/payment/v1/shop_service_pb";
import { createReturnLinks, returnLinkKey } from "../../src/server/auth/returnLinks";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { metricTotal } from "../helpers/metrics";
import { cardBody, genstoreClient, storedPayment, uniqueId } from "../helpers/payments";
import { startStripeEmulator, type StripeEmulator } from "../helpers/stripeEmulator";
import { startTestServer, testSecretsKey, withAdminToken, type TestServer } from "../helpers/testServer";

// The return endpoint is reachable by anyone: only a link we signed does anything, a cancel
// fails a payment only on the PSP's word, and no hit rate grows a payment or floods the PSP.
const linksFor = (server: TestServer) => createReturnLinks(returnLinkKey(testSecretsKey), () => server.url);
const hit = (url: string) => fetch(url, { redirect: "manual" });

describe("a payment whose charge went through at Stripe, its answer lost", () => {
  let emulator: StripeEmulator;
  let genstore: FakeGenstore;
  let server: TestServer;
  const shopId = "stripe-return";
  const testCreds = { secretKey: `sk_test_${randomBytes(8).toString("hex")}`, webhookSecret: `whsec_${randomBytes(12).toString("hex")}` };

  beforeAll(async () => {
    emulator = await startStripeEmulator(process.env.STRIPE_MOCK_URL!);
    genstore = await startFakeGenstore();
    // The reconciler waits ten minutes: here only the return endpoint looks at the payment.
    server = await startTestServer({
      callbackBaseUrl: genstore.url,
      stripe: { apiBase: emulator.url, maxNetworkRetries: 0, timeoutMs: 3000 },
      reconcile: { intervalMs: 200, minAgeMs: 600_000 },
    });
    const shops = createClient(ShopService, createGrpcTransport({ baseUrl: server.url, interceptors: [withAdminToken] }));
    await shops.createShop({
      shopId,
      settings: { psp: "stripe", testCredentials: { values: testCreds }, callbackBaseUrl: genstore.url, genstoreAccessToken: "gat" },
    });
  });
  afterAll(async () => {
    await server.stop();
    await genstore.stop();
    await emulator.close();
  });

  test("forged and premature cancels leave it open; the PSP's answer makes it succeed, with one success callback", async () => {
    const id = uniqueId("RL");
    emulator.loseAnswers(2, "/v1/payment_intents");
    expect((await genstoreClient(server, shopId).pay(cardBody(server, id, { amount: "25.00", currency: "EUR", manualCapture: false }))).status).toBe(200);
    const lost = await storedPayment(server, id);
    expect(lost?.state).toBe("unknown");
    const stripeCalls = emulator.requests.length;

    // No token, or a wrong one: refused, nothing read from Stripe, nothing written.
    const bare = `${server.url}/return/${shopId}/${id}?cancelled=1`;
    expect((await hit(bare)).status).toBe(403);
    expect((await hit(`${bare}&t=${"A".repeat(32)}`)).status).toBe(403);
    expect(emulator.requests.length).toBe(stripeCalls);
    expect(await storedPayment(server, id)).toEqual(lost);

    // The buyer's own cancel while Stripe cannot answer: no definitive word, so it stays open.
    const link = linksFor(server).url(shopId, id, true);
    emulator.failRequests(5, 503);
    const premature = await hit(link);
    emulator.failRequests(0, 503);
    expect(premature.status).toBe(303);
    expect(premature.headers.get("location")).toBe("https://shop.example/pay/result");
    expect(await storedPayment(server, id)).toMatchObject({ state: "unknown" });

    // Stripe answers again: the charge is found and reported as the success it was.
    const answered = await hit(link);
    expect(answered.status).toBe(303);
    expect(await storedPayment(server, id)).toMatchObject({ state: "captured" });
    await genstore.waitFor((calls) => calls.some((c) => c.path.endsWith(`/payment/${id}`)));
    expect(genstore.calls.filter((c) => c.path.endsWith(`/payment/${id}`)).map((c) => c.body.status)).toEqual([true]);
  });
});

describe("hits on the return endpoint", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ background: false, returnRefreshMs: 5000 });
  });
  afterAll(async () => {
    await server.stop();
  });

  const statusQueries = () => metricTotal(server.url, "psp_calls_total", { connector: "sandbox", call: "payment status" });

  // What is asserted is the PSP's load and the document, not speed: 4-15 s alone, more on a busy machine.
  test("1,000 hits add nothing to the payment and ask the PSP at most a couple of times", async () => {
    const id = uniqueId("RH");
    const paid = await genstoreClient(server).pay(cardBody(server, id, { card: "4000000000003220" }));
    expect(paid.body.threeDsUrl).toMatch(/\/sandbox\/3ds\//);
    const before = await storedPayment(server, id);
    const queriesBefore = await statusQueries();
    const link = linksFor(server).url("test-shop", id);
    const started = Date.now();
    for (let i = 0; i < 1000; i += 50) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => hit(link)));
      expect(answers.map((a) => a.status)).toEqual(Array(50).fill(303));
    }
    const ms = Date.now() - started;
    const asked = (await statusQueries()) - queriesBefore;
    // One question per RETURN_REFRESH_MS (5 s) at most, whatever the rate.
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(asked).toBeLessThanOrEqual(1 + Math.ceil(ms / 5000));
    expect(await storedPayment(server, id)).toEqual(before);
    process.stdout.write(`[return hits] 1000 hits in ${ms} ms, ${asked} PSP status queries, payment document unchanged\n`);
  }, 120_000);
});
