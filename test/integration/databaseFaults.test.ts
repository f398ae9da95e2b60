import { resolve } from "node:path";
import type { Proxy } from "toxiproxy-node-client";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { paymentsDuringFault, recoverAll, timedPay, type TimedAnswer } from "../helpers/faultScenario";
import { ledger } from "../helpers/payments";
import { startTestServer, type TestServer } from "../helpers/testServer";
import { ensureToxiproxy, startToxiproxy, type FaultProxy } from "../helpers/toxiproxy";
import { waitFor } from "../helpers/waitFor";

// The service talks to its database through Toxiproxy. Each scenario puts a fault on that link
// while Genstore sends card payments, states what Genstore may see during it, lifts it, and checks
// that the same service (no restart by hand) ends with every payment final, charged once at the
// PSP and reported to Genstore once.
const DATABASE_TIMEOUT_MS = 1000;
let toxiproxy: FaultProxy;
let proxy: Proxy;
let genstore: FakeGenstore;
let server: TestServer;

beforeAll(async () => {
  toxiproxy = await startToxiproxy(ensureToxiproxy(resolve(__dirname, "../../.cache")));
  const upstream = new URL(process.env.TEST_MONGODB_URI ?? "").host;
  const made = await toxiproxy.proxy("database", upstream);
  proxy = made.proxy;
  genstore = await startFakeGenstore();
  server = await startTestServer({
    mongodbUri: `mongodb://${made.address}/`,
    databaseTimeoutMs: DATABASE_TIMEOUT_MS,
    callbackBaseUrl: genstore.url,
    // The reconciler settles what a fault left open; it must not wait long in a test.
    reconcile: { intervalMs: 200, minAgeMs: 300 },
    callbacks: { pollMs: 300, backoffBaseMs: 50, backoffMaxMs: 500, timeoutMs: 2000 },
  });
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await genstore?.stop();
  await toxiproxy?.stop();
});
// A failed test must not leave its fault on for the next one.
afterEach(() => toxiproxy.client.reset());

/** What Genstore may see while the database is faulty: a final answer, or 503 asking for a retry; never a 500. */
function expectHonest(answers: TimedAnswer[], withinMs: number, statuses = [200, 503]) {
  for (const a of answers) {
    expect({ id: a.id, status: statuses.includes(a.status) ? "allowed" : a.status, fast: a.ms <= withinMs || a.ms }).toEqual({
      id: a.id,
      status: "allowed",
      fast: true,
    });
    if (a.status === 503) {
      expect(a.retryAfter).toBe("2");
      expect(a.body).toEqual({ error: "the payment service cannot reach its database right now; retry in a few seconds" });
    }
  }
}

async function afterRecovery(bodies: Record<string, unknown>[], callbacks: "exactly-once" | "one-outcome" = "exactly-once") {
  const finals = await recoverAll(server, genstore, bodies, { finalStates: ["captured"], callbacks, databaseFault: true });
  for (const p of Object.values(finals)) expect(await ledger(server, { key: `m-test-shop-test/${p.idempotencyKey}` })).toHaveLength(1);
  expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
}

const addToxic = (type: string, attributes: Record<string, number>, stream: "upstream" | "downstream" = "downstream") =>
  proxy.addToxic({ name: `${type}_${stream}`, type: type as never, stream, toxicity: 1, attributes: attributes as never });

test("a full outage of 10 s: 503 with Retry-After within 2 s, then every payment completes on Genstore's retry", async () => {
  await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
  const started = Date.now();
  const { bodies, answers } = await paymentsDuringFault(server, 6, { prefix: "OUT" });
  // Genstore keeps retrying for the whole ten seconds: every answer stays a fast 503.
  const retries: TimedAnswer[] = [];
  // Paced at a round each 50 ms: back to back, the fast 503s let one client send more than the
  // per-address limit (1,000 a second), and the service rightly answered some with 429.
  while (Date.now() < started + 10_000) {
    retries.push(...(await Promise.all(bodies.slice(0, 3).map((b) => timedPay(server, b)))));
    await new Promise((r) => setTimeout(r, 50));
  }
  expectHonest([...answers, ...retries], 2000, [503]);
  expect(retries.length).toBeGreaterThanOrEqual(9);
  // /readyz says so; /healthz still says the service can come back by itself.
  await waitFor("/readyz to say not ready", async () => (await fetch(`${server.url}/readyz`)).status === 503, 10_000, 100);
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
  await afterRecovery(bodies);
}, 90_000);

test("latency of 2 s on every answer: each request ends within the database bound (503), none hangs", async () => {
  await addToxic("latency", { latency: 2000, jitter: 0 });
  const { bodies, answers } = await paymentsDuringFault(server, 4, { prefix: "LAT" });
  expectHonest(answers, 2 * DATABASE_TIMEOUT_MS);
  await proxy.getToxic("latency_downstream").then((t) => t.remove());
  await afterRecovery(bodies, "one-outcome");
}, 90_000);

test("a bandwidth trickle (1 KB/s): answers are final or 503, within the bound; nothing is lost", async () => {
  await addToxic("bandwidth", { rate: 1 });
  const { bodies, answers } = await paymentsDuringFault(server, 4, { prefix: "BW" });
  expectHonest(answers, 2 * DATABASE_TIMEOUT_MS);
  await proxy.getToxic("bandwidth_downstream").then((t) => t.remove());
  await afterRecovery(bodies, "one-outcome");
}, 90_000);

test("connections reset mid-request: 503 at once, then every payment completes on Genstore's retry", async () => {
  await addToxic("reset_peer", { timeout: 0 });
  const { bodies, answers } = await paymentsDuringFault(server, 4, { prefix: "RST" });
  expectHonest(answers, 2000, [503]);
  await proxy.getToxic("reset_peer_downstream").then((t) => t.remove());
  await afterRecovery(bodies);
}, 90_000);

test("half-open connections (data stops, nothing closes): 503 within the bound, not a hang", async () => {
  await addToxic("timeout", { timeout: 0 });
  const { bodies, answers } = await paymentsDuringFault(server, 4, { prefix: "HALF" });
  expectHonest(answers, 2 * DATABASE_TIMEOUT_MS, [503]);
  await proxy.getToxic("timeout_downstream").then((t) => t.remove());
  await afterRecovery(bodies);
}, 90_000);
