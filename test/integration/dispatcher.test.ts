import { randomBytes } from "node:crypto";
import { MongoClient, type Db } from "mongodb";
import { createCallbackDispatcher, type DispatcherOptions } from "../../src/callbacks/dispatcher";
import type { HttpPut } from "../../src/callbacks/httpPut";
import { createKeyedMutex } from "../../src/runtime/keyedMutex";
import { paymentLockKey } from "../../src/payments/use-cases/index";
import type { PaymentRecord, PaymentRepository } from "../../src/payments/records";
import type { ShopDirectory } from "../../src/payments/shops";
import { createPaymentRepository } from "../../src/store/paymentRepository";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { callbackShop, capturedPayment } from "../helpers/records";
import { waitFor } from "../helpers/waitFor";

// The dispatcher with a controlled clock: the retry window, backoff growth and jitter bounds.
let client: MongoClient;
let db: Db;
let genstore: FakeGenstore;
beforeAll(async () => {
  client = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await client.connect();
  db = client.db(`dispatch_${randomBytes(4).toString("hex")}`);
  genstore = await startFakeGenstore();
});
afterAll(async () => {
  await db.dropDatabase();
  await client.close();
  await genstore.stop();
});

const payment = (id: string, at: Date): PaymentRecord => capturedPayment(id, at, { withCallback: true });

/** A dispatcher over `repository`, with its own lock and no logs unless given. */
const dispatcherOf = (repository: PaymentRepository, shops: ShopDirectory, more: Partial<DispatcherOptions> = {}) =>
  createCallbackDispatcher({ repository, shops, mutex: createKeyedMutex(), lockKey: paymentLockKey, log: () => {}, ...more });

test("a callback failing for 72 hours is parked, with backoff growing and jittered below its ceiling", async () => {
  genstore.respondWith(() => ({ status: 503 }));
  const start = new Date("2026-01-01T00:00:00Z");
  let now = start;
  const repository = createPaymentRepository(db);
  const shop = callbackShop(genstore.url, start);
  const shops: ShopDirectory = { get: async () => shop, find: async () => shop, forget: () => {} };
  const dispatcher = dispatcherOf(repository, shops, {
    now: () => now,
    random: () => 0.999,
    backoffBaseMs: 1000,
    backoffMaxMs: 3_600_000,
    rateLimit: { capacity: 1000, perSecond: 1000 },
  });
  await repository.claimPayment(payment("P-72h", start));
  const waits: number[] = [];
  for (let i = 0; i < 200; i++) {
    expect(await dispatcher.runOnce()).toBe(1);
    const p = await repository.findPayment("s1", "P-72h");
    const cb = p!.callbacks[0]!;
    if (cb.state === "parked") break;
    const wait = new Date(cb.nextAttemptAt!).getTime() - now.getTime();
    waits.push(wait);
    now = new Date(cb.nextAttemptAt!);
  }
  const p = await repository.findPayment("s1", "P-72h");
  const cb = p!.callbacks[0]!;
  expect(cb.state).toBe("parked");
  expect(cb.parkedReason).toBe("still failing after 72 h: HTTP 503: {}");
  expect(p!.nextCallbackAt).toBeNull();
  // Full jitter below 1 s, 2 s, 4 s … capped at an hour; the last try is within 72 h.
  expect(waits.slice(0, 4)).toEqual([999, 1998, 3996, 7992]);
  expect(Math.max(...waits)).toBeLessThanOrEqual(3_600_000);
  expect(now.getTime() - start.getTime()).toBeLessThanOrEqual(72 * 3_600_000);
  expect(now.getTime() - start.getTime()).toBeGreaterThan(70 * 3_600_000);
  expect(genstore.calls.length).toBe(cb.attempts.length);
  // Nothing more is tried once parked.
  now = new Date(now.getTime() + 86_400_000);
  expect(await dispatcher.runOnce()).toBe(0);
});

test("a scan that read a payment before a notification delivered its callback does not deliver it again", async () => {
  genstore.respondWith(() => ({ status: 200 }));
  const at = new Date();
  const inner = createPaymentRepository(db);
  // The scan's read of the due payments returns only when the test says so.
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  let scanRead = false;
  const repository = {
    ...inner,
    findDueCallbacks: async (...args: Parameters<typeof inner.findDueCallbacks>) => {
      const due = await inner.findDueCallbacks(...args);
      scanRead = true;
      await held;
      return due;
    },
  };
  const shop = callbackShop(genstore.url, at);
  const shops: ShopDirectory = { get: async () => shop, find: async () => shop, forget: () => {} };
  const dispatcher = dispatcherOf(repository, shops, { pollMs: 3_600_000 });
  const id = `P-race-${randomBytes(3).toString("hex")}`;
  await inner.claimPayment(payment(id, at));
  dispatcher.start(); // its first scan reads the payment, then waits
  await waitFor("the scan to read the due payments", () => scanRead);
  dispatcher.notify("s1", id);
  await waitFor("the notification's delivery to be recorded", async () => (await inner.findPayment("s1", id))?.callbacks[0]?.state === "delivered");
  release();
  await dispatcher.stop();
  expect(genstore.calls.filter((c) => c.path.endsWith(`/payment/${id}`))).toHaveLength(1);
});

test("a drain that fails because the database is away is tried again by itself, not left to the next scan", async () => {
  genstore.respondWith(() => ({ status: 200 }));
  const at = new Date();
  const own = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await own.connect();
  const repository = createPaymentRepository(own.db(db.databaseName));
  const shop = callbackShop(genstore.url, at);
  const shops: ShopDirectory = { get: async () => shop, find: async () => shop, forget: () => {} };
  const errors: Record<string, unknown>[] = [];
  const log = (e: Record<string, unknown>) => void (e.level === "error" && errors.push(e));
  const dispatcher = dispatcherOf(repository, shops, { log, pollMs: 3_600_000 });
  dispatcher.start();
  try {
    await dispatcher.runOnce(); // the first scan is over: no other scan comes within the test
    const id = `P-retry-${randomBytes(3).toString("hex")}`;
    await createPaymentRepository(db).claimPayment(payment(id, at));
    // The dispatcher's connection is gone when it is told: its read fails.
    await own.close();
    dispatcher.notify("s1", id);
    await waitFor("the drain to fail", () => errors.some((e) => e.msg === "callback dispatch failed" && e.paymentId === id));
    await own.connect();
    // On a loaded machine the reconnected client may take seconds to find the server again, while
    // the drain's retries (every 1-2 s) go on: the one awaited is a retry after the client is back.
    await own.db("admin").command({ ping: 1 });
    await genstore
      .waitFor((calls) => calls.some((c) => c.path.endsWith(`/payment/${id}`)), 10_000)
      .catch((err: Error) => {
        throw new Error(`${err.message.slice(0, 200)}; the dispatcher's last errors: ${JSON.stringify(errors.slice(-3))}`);
      });
    await waitFor("the delivery to be recorded", async () => (await repository.findPayment("s1", id))?.callbacks[0]?.state === "delivered");
  } finally {
    await dispatcher.stop();
    await own.close();
  }
});

test.each([
  ["MongoDB (version in the filter)", true],
  ["FerretDB (version known in process)", false],
])("an operator's redelivery during another callback's attempt is not written over by that attempt: %s", async (_name, atomic) => {
  const at = new Date();
  const repository = createPaymentRepository(db, { atomicConditionalUpdates: atomic });
  const shop = callbackShop("http://genstore.invalid", at);
  const shops: ShopDirectory = { get: async () => shop, find: async () => shop, forget: () => {} };
  const id = `P-redeliver-${String(atomic)}`;
  const p = capturedPayment(id, at, { withCallback: true });
  const parked = {
    ...p.callbacks[0]!,
    id: "refund:R0",
    kind: "refund" as const,
    targetId: "R0",
    state: "parked" as const,
    parkedReason: "HTTP 404",
    nextAttemptAt: null,
  };
  await repository.claimPayment({ ...p, callbacks: [parked, p.callbacks[0]!] });
  // The pending callback's attempt waits here until the operator has redelivered the parked one.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let attempting = false;
  const put: HttpPut = async (url) => {
    if (url.includes(`/payment/${id}`)) {
      attempting = true;
      await gate;
      return { status: 503, retryAfter: null, text: "{}" };
    }
    return { status: 200, retryAfter: null, text: "{}" };
  };
  const dispatcher = dispatcherOf(repository, shops, { put, rateLimit: { capacity: 1000, perSecond: 1000 } });
  const pass = dispatcher.runOnce();
  await waitFor("the attempt under way", () => attempting);
  expect(await dispatcher.redeliver("s1", id, "refund:R0")).toBe(1);
  release();
  await pass;
  const after = await repository.findPayment("s1", id);
  expect(after!.callbacks.map((c) => [c.id, c.state, c.attempts.length])).toEqual([
    ["refund:R0", "pending", 0],
    [p.callbacks[0]!.id, "pending", 1],
  ]);
});
