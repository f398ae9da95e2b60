import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import type { Proxy } from "toxiproxy-node-client";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { paymentsDuringFault, recoverAll, timedPay, type TimedAnswer } from "../helpers/faultScenario";
import { cardBody, uniqueId } from "../helpers/payments";
import { startStripeEmulator, type StripeEmulator } from "../helpers/stripeEmulator";
import { startTestServer, type TestServer } from "../helpers/testServer";
import { ensureToxiproxy, startToxiproxy, type FaultProxy } from "../helpers/toxiproxy";
import { waitFor } from "../helpers/waitFor";

// The service talks to Stripe (stripe-mock plus its state) through Toxiproxy. A PSP that is slow,
// resets connections, half-opens them or is down must cost a request at most the PSP budget,
// leave no payment unsettled once it is back, and never charge twice. Each scenario has its own
// shop, as each shop has its own circuit breaker.
const PSP_TIMEOUT_MS = 2000;
const BREAKER = { failures: 3, openMs: 1500 };
let emulator: StripeEmulator;
let toxiproxy: FaultProxy;
let proxy: Proxy;
let genstore: FakeGenstore;
let server: TestServer;

beforeAll(async () => {
  emulator = await startStripeEmulator(process.env.STRIPE_MOCK_URL ?? "");
  toxiproxy = await startToxiproxy(ensureToxiproxy(resolve(__dirname, "../../.cache")));
  const made = await toxiproxy.proxy("stripe", new URL(emulator.url).host);
  proxy = made.proxy;
  genstore = await startFakeGenstore();
  server = await startTestServer({
    callbackBaseUrl: genstore.url,
    pspTimeoutMs: PSP_TIMEOUT_MS,
    pspBreaker: BREAKER,
    // Stripe's search lags; here it is taken as current after 500 ms.
    stripe: { apiBase: `http://${made.address}`, maxNetworkRetries: 0, timeoutMs: 4000, searchLagMs: 500 },
    reconcile: { intervalMs: 200, minAgeMs: 300 },
    callbacks: { pollMs: 300, backoffBaseMs: 50, backoffMaxMs: 500, timeoutMs: 2000 },
  });
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await genstore?.stop();
  await toxiproxy?.stop();
  await emulator?.close();
});
afterEach(() => toxiproxy.client.reset());

async function stripeShop(): Promise<string> {
  const shopId = `psp-fault-${randomBytes(3).toString("hex")}`;
  await server.addShop(shopId, {
    psp: "stripe",
    testCredentials: { secretKey: `sk_test_${randomBytes(8).toString("hex")}` },
    liveCredentials: {},
    callbackBaseUrl: genstore.url,
  });
  return shopId;
}

const addToxic = (type: string, attributes: Record<string, number>) =>
  proxy.addToxic({ name: type, type: type as never, stream: "downstream", toxicity: 1, attributes: attributes as never });

/** While the PSP is faulty a request costs at most the PSP budget: a final answer or PROCESSING, never an error status. */
function expectWithinBudget(answers: TimedAnswer[]) {
  for (const a of answers)
    expect({ id: a.id, status: a.status, inBudget: a.ms <= PSP_TIMEOUT_MS + 1000 || a.ms }).toEqual({ id: a.id, status: 200, inBudget: true });
}

/** Every payment final, each with exactly one PaymentIntent at Stripe (one PSP effect). */
async function settledOnce(shopId: string, bodies: Record<string, unknown>[], finalStates = ["captured"]) {
  const finals = await recoverAll(server, genstore, bodies, { finalStates, shopId });
  for (const p of Object.values(finals)) expect(emulator.intentsWithKey(String(p.idempotencyKey))).toHaveLength(finalStates.includes("captured") ? 1 : 0);
  return finals;
}

test("latency of 3 s: answers come within the PSP budget (PROCESSING), the payments complete once", async () => {
  const shopId = await stripeShop();
  await addToxic("latency", { latency: 3000, jitter: 0 });
  const { bodies, answers } = await paymentsDuringFault(server, 3, { prefix: "PLAT", shopId });
  expectWithinBudget(answers);
  await proxy.getToxic("latency").then((t) => t.remove());
  await settledOnce(shopId, bodies);
}, 60_000);

test("connections reset mid-request: unknown and PROCESSING at once; once Stripe answers, reconciliation finds nothing charged and declines", async () => {
  const shopId = await stripeShop();
  await addToxic("reset_peer", { timeout: 0 });
  const { bodies, answers } = await paymentsDuringFault(server, 2, { prefix: "PRST", shopId });
  expectWithinBudget(answers);
  await server.app.settled();
  for (const b of bodies) expect(await server.db.collection("payments").findOne({ genstoreId: b.paymentId })).toMatchObject({ state: "unknown" });
  await proxy.getToxic("reset_peer").then((t) => t.remove());
  // Every call was reset, the first (the card's PaymentMethod) included: no PaymentIntent exists.
  const finals = await settledOnce(shopId, bodies, ["declined"]);
  for (const p of Object.values(finals)) expect(p.error).toBe("Stripe has no payment for this attempt: the request never reached Stripe");
}, 60_000);

test("half-open connections: the request answers PROCESSING within the PSP budget, no worker hangs, reconciliation settles it", async () => {
  const shopId = await stripeShop();
  await addToxic("timeout", { timeout: 0 });
  const { bodies, answers } = await paymentsDuringFault(server, 2, { prefix: "PHALF", shopId });
  expectWithinBudget(answers);
  // The service still serves others meanwhile (an Event-loop worker is not held).
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  await proxy.getToxic("timeout").then((t) => t.remove());
  await settledOnce(shopId, bodies);
}, 60_000);

test("Stripe down: after 3 failures the shop's circuit opens and payments are declined at once with the reason, nothing sent; it closes by itself", async () => {
  const shopId = await stripeShop();
  await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
  const first = await paymentsDuringFault(server, BREAKER.failures, { prefix: "PDOWN", shopId });
  expectWithinBudget(first.answers);
  await waitFor("the circuit to open", () => server.logs.find((l) => l.msg === "PSP circuit opened: calls are not sent for a while" && l.shopId === shopId));
  const fast = await paymentsDuringFault(server, 3, { prefix: "PFAST", shopId });
  for (const a of fast.answers) {
    expect(a.status).toBe(200);
    expect(String(a.body.error)).toMatch(/^the payment provider is not reachable right now; nothing was sent to it; try again in \d+ s or more$/);
    expect(a.ms).toBeLessThan(PSP_TIMEOUT_MS / 2); // no wait on the PSP: well under its budget
  }
  // Another shop on the same connector is not affected by this shop's circuit (it is per shop).
  const other = await stripeShop();
  const otherAnswer = await timedPay(server, cardBody(server, uniqueId("POTHER"), { manualCapture: false }), other);
  expect(otherAnswer.body.error).not.toMatch(/not reachable/);

  await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
  await waitFor(
    "the circuit to close again",
    () => server.logs.find((l) => l.msg === "PSP circuit closed: the PSP answers again" && l.shopId === shopId),
    15_000,
    50,
  );
  // The first three never reached Stripe: once it answers again, they are found absent and declined.
  await settledOnce(shopId, [...first.bodies, ...fast.bodies], ["declined"]);
  const after = cardBody(server, uniqueId("PBACK"), { manualCapture: false });
  expect(await timedPay(server, after, shopId)).toMatchObject({ status: 200, body: { threeDsUrl: "", error: "" } });
  await settledOnce(shopId, [after]);
}, 90_000);
