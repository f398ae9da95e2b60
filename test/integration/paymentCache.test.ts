import { randomBytes } from "node:crypto";
import { journaledStorage } from "../../src/app/paymentStorage";
import { createCallbackDispatcher } from "../../src/callbacks/dispatcher";
import type { PaymentRecord, PaymentRepository } from "../../src/payments/records";
import type { ShopDirectory } from "../../src/payments/shops";
import { paymentLockKey } from "../../src/payments/use-cases/index";
import { createKeyedMutex } from "../../src/runtime/keyedMutex";
import { cachedPayments, createPaymentCache } from "../../src/store/paymentCache";
import { createPaymentRepository } from "../../src/store/paymentRepository";
import { createSentWrites, type SentWrites } from "../../src/store/sentWrites";
import { fromStored, type Stored } from "../../src/store/storedRecords";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { metricTotal } from "../helpers/metrics";
import { cardBody, genstoreClient, outboxDrained, uniqueId } from "../helpers/payments";
import { callbackShop, capturedPayment } from "../helpers/records";
import { startTestServer, type TestServer } from "../helpers/testServer";

// On the embedded FerretDB that one instance owns, the payments it wrote last are read from
// memory (src/store/paymentCache.ts). What it answers must be what the database holds, after
// every kind of write: claims, holds, settlements, deliveries journaled and folded, a retry.
let genstore: FakeGenstore;
let server: TestServer;
let gs: ReturnType<typeof genstoreClient>;
beforeAll(async () => {
  genstore = await startFakeGenstore();
  server = await startTestServer({ callbackBaseUrl: genstore.url, callbacks: { backoffBaseMs: 20, backoffMaxMs: 40 } });
  gs = genstoreClient(server);
});
afterAll(async () => {
  await server.stop();
  await genstore.stop();
});

/** The service's own count of finds on the payments collection (db_commands_total). */
const paymentFinds = () => metricTotal(server.url, "db_commands_total", { collection: "payments", command: "find" });

const ok = async (answer: Promise<{ status: number; body: Record<string, unknown> }>) => {
  const { status, body } = await answer;
  expect([status, body.error]).toEqual([200, ""]);
  return body;
};

test("a capture and refunds right after their payment read it from memory, and what they read is what the database holds", async () => {
  const a = uniqueId("cache-a");
  await ok(gs.pay(cardBody(server, a, { manualCapture: true })));
  const before = await paymentFinds();
  // Each request right after the last: the previous callback is still on its way to Genstore.
  await ok(gs.capture(a, "200.00"));
  await ok(gs.refund(a, "50.00"));
  await ok(gs.refund(a, "25.00"));
  await ok(gs.getPayment(a));
  // Four requests, and the deliveries of their callbacks: no read of the payment from the database.
  expect((await paymentFinds()) - before).toBe(0);

  // A refund the PSP refuses (this card's refunds all fail), and a void.
  const b = uniqueId("cache-b");
  await ok(gs.pay(cardBody(server, b, { card: "4000000000005126", manualCapture: false })));
  expect((await gs.refund(b, "10.00")).body.error).not.toBe("");
  const c = uniqueId("cache-c");
  await ok(gs.pay(cardBody(server, c, { manualCapture: true })));
  await ok(gs.void(c));

  // Genstore refuses the next two callbacks once each: a failed attempt is written whole.
  let refused = 0;
  genstore.respondWith(() => (refused++ < 2 ? { status: 503 } : { status: 200 }));
  const d = uniqueId("cache-d");
  await ok(gs.pay(cardBody(server, d, { manualCapture: true })));
  await ok(gs.capture(d, "200.00"));

  for (const id of [a, b, c, d]) {
    // Delivered and folded into the document (the service was quiet): the journal adds nothing.
    const doc = await outboxDrained(server, id);
    const stored = fromStored<PaymentRecord>((await server.db.collection("payments").findOne({ genstoreId: id })) as Stored<PaymentRecord> | null)!;
    expect(doc.callbacks.every((cb: { state: string }) => cb.state === "delivered")).toBe(true);
    const finds = await paymentFinds();
    const served = await server.app.payments.findPayment(stored.shopId, id);
    expect([id, await paymentFinds()]).toEqual([id, finds]); // from memory
    expect(served).toEqual(stored);
  }
  expect(refused).toBeGreaterThanOrEqual(2);
});

test("a change made from a copy with journaled deliveries leaves in memory only what the document holds", async () => {
  const db = server.db.client.db(`cache_${randomBytes(4).toString("hex")}`);
  try {
    const { stored, journal } = journaledStorage(db, { log: () => {} }); // not started: no folding
    const repository = journal.observe(stored);
    await journal.load();
    const at = new Date();
    const shop = () => callbackShop(genstore.url, at);
    const shops: ShopDirectory = { get: async () => shop(), find: async () => shop(), forget: () => {} };
    await repository.claimPayment(capturedPayment("K-1", at, { withCallback: true }));
    const dispatcher = createCallbackDispatcher({ repository, shops, mutex: createKeyedMutex(), lockKey: paymentLockKey, log: () => {} });
    expect(await dispatcher.runOnce()).toBe(1);
    // The copy a request works from says delivered (the journal's fact); the document does not yet.
    const copy = (await repository.findPayment("s1", "K-1"))!;
    expect(copy.callbacks.map((c) => c.state)).toEqual(["delivered"]);
    await repository.updatePayment("s1", "K-1", {}, { event: { at, event: "refund requested" } }, copy);

    const database = createPaymentRepository(db, { atomicConditionalUpdates: false }); // no cache
    const inDatabase = await database.findPayment("s1", "K-1");
    expect(inDatabase!.callbacks.map((c) => c.state)).toEqual(["pending"]);
    expect(await stored.findPayment("s1", "K-1")).toEqual(inDatabase);
  } finally {
    await db.dropDatabase();
  }
});

// Each write's entry is the claim or update the repository sent, laid over the entry before it
// (sentWrites.ts); without that record, as for a repository that does not keep one, it is worked
// out from the decoded entry. Both must leave what the database holds.
test.each([
  ["the writes as sent", true],
  ["the writes worked out again", false],
])("every kind of write leaves the entry equal to the document, or leaves none (%s)", async (_how, withSent) => {
  const db = server.db.client.db(`cache_${randomBytes(4).toString("hex")}`);
  try {
    // Counts the writes whose entry was made from what was sent: the other way gives the same
    // entries, so without this the first case could pass on the second's path.
    const used = { claims: 0, updates: 0 };
    const tally = <T>(found: T | undefined, kind: keyof typeof used) => {
      if (found) used[kind]++;
      return found;
    };
    const recorded = createSentWrites();
    const sent: SentWrites | undefined = withSent
      ? {
          ...recorded,
          takeClaim: (record) => tally(recorded.takeClaim(record), "claims"),
          takeUpdate: (change) => tally(recorded.takeUpdate(change), "updates"),
        }
      : undefined;
    const inner = createPaymentRepository(db, { atomicConditionalUpdates: false, sent });
    let reads = 0;
    const counted: PaymentRepository = { ...inner, findPayment: (shopId, id) => (reads++, inner.findPayment(shopId, id)) };
    const cache = createPaymentCache(10);
    const repo = cachedPayments(counted, cache, sent);
    /** Read from memory, and equal to what the database holds. */
    const fromMemory = async () => {
      const before = reads;
      const p = (await repo.findPayment("s1", "E-1"))!;
      expect(reads).toBe(before);
      expect(p).toEqual(await inner.findPayment("s1", "E-1"));
      // The entry itself, as stored (packed fields, outbox count and all), is the document.
      expect(cache.get("s1\u0000E-1")).toEqual(await db.collection("payments").findOne({ genstoreId: "E-1" }));
      return p;
    };
    const at = new Date();
    const event = (name: string) => ({ at, event: name });

    // A top-level field left undefined is stored as null by the driver, and so in memory.
    await repo.claimPayment({ ...capturedPayment("E-1", at, { withCallback: true, minor: 1000 }), note: undefined } as PaymentRecord);
    let p = await fromMemory();
    expect((p as PaymentRecord & { note?: unknown }).note).toBeNull();
    // Genstore's retry claims the id again: it is taken, nothing changed, the entry stays.
    expect((await repo.claimPayment(capturedPayment("E-1", at, { withCallback: true, minor: 1000 }))).inserted).toBe(false);
    p = await fromMemory();
    // A refund the guard refuses changes nothing; one it allows changes what the database changes.
    const refund = { id: "R1", minor: 400 };
    expect(await repo.updatePayment("s1", "E-1", { refundableAtLeast: 5000 }, { event: event("refund requested"), addRefundInFlight: refund }, p)).toBeNull();
    p = await fromMemory();
    expect(p.refundsInFlight).toEqual([]);
    await repo.updatePayment(
      "s1",
      "E-1",
      { refundableAtLeast: 400 },
      { inc: { refundableMinor: -400, refundReservedMinor: 400 }, addRefundInFlight: refund, event: event("refund requested") },
      p,
    );
    p = await fromMemory();
    const callback = { ...p.callbacks[0]!, id: "refund:R1", kind: "refund" as const, targetId: "R1" };
    await repo.updatePayment(
      "s1",
      "E-1",
      { refundInFlightId: "R1" },
      {
        inc: { refundReservedMinor: -400, refundedMinor: 400 },
        set: { state: "partially_refunded" },
        removeRefundInFlight: refund,
        callback,
        event: event("refund succeeded"),
      },
      p,
    );
    p = await fromMemory();
    expect([p.state, p.refundableMinor, p.refundedMinor, p.refundsInFlight, p.callbacks.length]).toEqual(["partially_refunded", 600, 400, [], 2]);
    // An update with no copy of the payment at hand reads it and updates it in one findAndModify.
    await repo.updatePayment("s1", "E-1", { states: ["partially_refunded"] }, { event: event("noted"), set: { state: "partially_refunded" } });
    p = await fromMemory();
    expect(p.timeline.at(-1)!.event).toBe("noted");
    expect(used).toEqual(withSent ? { claims: 1, updates: 3 } : { claims: 0, updates: 0 });
    // An operator's redelivery bumps the version; an outbox write from an older copy writes nothing.
    await repo.saveCallbacks("s1", "E-1", p.callbacks, at, { from: p.version ?? 0 });
    p = await fromMemory();
    const delivered = p.callbacks.map((c) => ({ ...c, state: "delivered" as const }));
    expect(await repo.saveOutboxes([{ shopId: "s1", paymentId: "E-1", version: (p.version ?? 0) - 1, callbacks: delivered, nextCallbackAt: null }])).toEqual([
      false,
    ]);
    p = await fromMemory();
    expect(await repo.saveOutboxes([{ shopId: "s1", paymentId: "E-1", version: p.version, callbacks: delivered, nextCallbackAt: null }])).toEqual([true]);
    p = await fromMemory();
    expect(p.callbacks.map((c) => c.state)).toEqual(["delivered", "delivered"]);

    // Two writes at once (no lock held): neither leaves an entry, the next read goes to the database.
    await Promise.all([repo.updatePayment("s1", "E-1", {}, { event: event("a") }, p), repo.updatePayment("s1", "E-1", {}, { event: event("b") }, p)]);
    let before = reads;
    expect((await repo.findPayment("s1", "E-1"))!.timeline.length).toBe((await inner.findPayment("s1", "E-1"))!.timeline.length);
    expect(reads).toBe(before + 1);

    // A document over the cache's size bound (a payment with many refunds) is read from the database.
    const small = cachedPayments(counted, createPaymentCache(10, 4096), sent);
    const big = capturedPayment("E-3", at);
    big.timeline = Array.from({ length: 60 }, (_, i) => ({ at, event: `refund ${i} requested`, requestId: `req_${i}` }));
    await small.claimPayment(big);
    before = reads;
    expect((await small.findPayment("s1", "E-3"))!.timeline).toHaveLength(60);
    expect(reads).toBe(before + 1);

    // A write that fails (it may still have reached the database): no entry either.
    await repo.claimPayment(capturedPayment("E-2", at));
    before = reads;
    const p2 = (await repo.findPayment("s1", "E-2"))!;
    expect(reads).toBe(before);
    const failing = cachedPayments({ ...counted, updatePayment: () => Promise.reject(new Error("connection lost")) }, cache);
    await expect(failing.updatePayment("s1", "E-2", {}, { event: event("d") }, p2)).rejects.toThrow("connection lost");
    await repo.findPayment("s1", "E-2");
    expect(reads).toBe(before + 1);
  } finally {
    await db.dropDatabase();
  }
});
