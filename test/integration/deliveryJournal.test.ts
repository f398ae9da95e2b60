import { randomBytes } from "node:crypto";
import { MongoClient, type Db } from "mongodb";
import { journaledStorage, paymentStorage } from "../../src/app/paymentStorage";
import { createCallbackDispatcher } from "../../src/callbacks/dispatcher";
import { createOutboxWriter } from "../../src/callbacks/outboxWriter";
import { recordAttempt } from "../../src/callbacks/retryPolicy";
import { paymentCallback } from "../../src/payments/callbackBody";
import type { PaymentRecord, PaymentRepository } from "../../src/payments/records";
import type { ShopDirectory } from "../../src/payments/shops";
import { paymentLockKey } from "../../src/payments/use-cases/index";
import { createKeyedMutex } from "../../src/runtime/keyedMutex";
import { DELIVERY_JOURNAL_COLLECTION } from "../../src/store/deliveryJournal";
import { createPaymentRepository } from "../../src/store/paymentRepository";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { callbackShop, capturedPayment } from "../helpers/records";
import { waitFor } from "../helpers/waitFor";

// The delivery journal on the embedded FerretDB: a delivered callback is one journal document
// per batch, not a rewrite of its payment; every read sees it, a restart keeps it, and folding
// writes it into the payments between the service's requests.
let client: MongoClient;
let db: Db;
let genstore: FakeGenstore;
const writes: string[] = [];
beforeAll(async () => {
  client = await new MongoClient(process.env.TEST_MONGODB_URI ?? "", { monitorCommands: true }).connect();
  client.on("commandStarted", (e) => {
    if (e.databaseName === db.databaseName && ["insert", "update", "delete", "findAndModify"].includes(e.commandName))
      writes.push(`${e.commandName} ${String(e.command[e.commandName])}`);
  });
  genstore = await startFakeGenstore();
});
// A database of its own for each test: the dispatcher's scan reads every payment.
beforeEach(() => {
  db = client.db(`journal_${randomBytes(4).toString("hex")}`);
});
afterEach(async () => {
  await db.dropDatabase();
});
afterAll(async () => {
  await client.close();
  await genstore.stop();
});

const at = new Date();
const shop = () => callbackShop(genstore.url, at);
const shops: ShopDirectory = { get: async () => shop(), find: async () => shop(), forget: () => {} };
const mutex = createKeyedMutex();
const lock = <T>(shopId: string, paymentId: string, task: () => Promise<T>) => mutex.run(paymentLockKey(shopId, paymentId), task);

/** The storage as a single instance on FerretDB builds it: the journal over the repository. */
function storage(foldWhenQuiet = true, maxUnfolded?: number, quietMs?: number) {
  const { stored, journal } = journaledStorage(db, { log: () => {}, foldWhenQuiet, ...(maxUnfolded ? { maxUnfolded } : {}), ...(quietMs ? { quietMs } : {}) });
  return { stored, journal, repository: journal.observe(stored) };
}

function dispatcherOn(repository: PaymentRepository) {
  return createCallbackDispatcher({ repository, shops, mutex, lockKey: paymentLockKey, log: () => {}, rateLimit: { capacity: 1000, perSecond: 1000 } });
}

/** A refund's result queued on the payment, whose first delivery Genstore refuses: the outbox is written whole. */
async function refundRefusedOnce(repository: PaymentRepository, paymentId: string, refundId: string) {
  const p = (await repository.findPayment("s1", paymentId))!;
  const refund = { ...paymentCallback(p, "payment", true, undefined, at), id: `refund:${refundId}`, kind: "refund" as const, targetId: refundId };
  await repository.updatePayment("s1", paymentId, {}, { event: { at, event: "refund succeeded" }, callback: refund });
  genstore.respondWith((call) => (call.path.includes(`/refund/${refundId}`) ? { status: 503 } : { status: 200 }));
  try {
    expect(await dispatcherOn(repository).runOnce()).toBe(1);
  } finally {
    genstore.respondWith(() => ({ status: 200 }));
  }
}

const policy = { baseMs: 1000, maxMs: 60_000, windowMs: 72 * 3_600_000, random: () => 0.5 };
const states = (p: PaymentRecord | null) => p?.callbacks.map((c) => c.state);
const ids = (prefix: string) => ["1", "2", "3"].map((n) => `${prefix}-${n}`);

test("delivered callbacks go to one journal document; reads, a restart and the database's scan all see them delivered", async () => {
  const first = storage();
  await first.journal.load();
  for (const id of ids("J")) await first.repository.claimPayment(capturedPayment(id, at, { withCallback: true }));
  writes.length = 0;
  const dispatcher = dispatcherOn(first.repository);
  expect(await dispatcher.runOnce()).toBe(3);
  await genstore.waitFor((calls) => calls.filter((c) => c.path.includes("/payment/J-")).length === 3);

  // The bookkeeping was one insert into the journal; no payment was rewritten.
  expect(writes).toEqual([`insert ${DELIVERY_JOURNAL_COLLECTION}`]);
  for (const id of ids("J")) {
    expect(states(await first.stored.findPayment("s1", id))).toEqual(["pending"]);
    expect(await first.repository.findPayment("s1", id)).toMatchObject({
      nextCallbackAt: null,
      callbacks: [{ state: "delivered", attempts: [{ httpStatus: 200 }] }],
    });
  }
  expect(first.journal.unfolded).toBe(3);

  // A restart: the journal is read back, and nothing is delivered twice, even though the
  // database's own scan still finds the payments due.
  const second = storage();
  await second.journal.load();
  expect(second.journal.unfolded).toBe(3);
  expect(await second.repository.findDueCallbacks(new Date(), 100)).toEqual([]);
  expect(await dispatcherOn(second.repository).runOnce()).toBe(0);
  expect(genstore.calls.filter((c) => c.path.includes("/payment/J-"))).toHaveLength(3);
  expect((await second.repository.countCallbacks()).pending).toBe(0);

  // The service's own storage after a restart: the console's index is filled with the journal
  // laid over, and its scans find nothing due.
  const service = paymentStorage({ db, atomicConditionalUpdates: false, log: () => {} });
  await service.index!.load();
  expect((await service.listing.list({}, 10)).payments.map((s) => [s.paymentId, s.callbacksPending, s.nextCallbackAt])).toEqual(
    ids("J")
      .reverse()
      .map((id) => [id, 0, null]),
  );
  expect(await dispatcherOn(service.payments).runOnce()).toBe(0);

  // Quiet (no request under way): folded into the payments, the journal emptied.
  second.journal.start(lock);
  await waitFor("the journal folded", async () => second.journal.unfolded === 0 && (await db.collection(DELIVERY_JOURNAL_COLLECTION).countDocuments()) === 0);
  await second.journal.stop();
  // Read apart from both instances: the first keeps in memory what it wrote itself (paymentCache.ts).
  const database = createPaymentRepository(db, { atomicConditionalUpdates: false });
  for (const id of ids("J")) expect(await database.findPayment("s1", id)).toMatchObject({ nextCallbackAt: null, callbacks: [{ state: "delivered" }] });
  expect(await database.countCallbacks()).toMatchObject({ pending: 0 });
});

test("a payment written whole after a journaled delivery keeps it, and its journal document goes once nothing in it is left", async () => {
  const { stored, journal, repository } = storage();
  await journal.load();
  await repository.claimPayment(capturedPayment("W-1", at, { withCallback: true }));
  expect(await dispatcherOn(repository).runOnce()).toBe(1);
  expect(journal.unfolded).toBe(1);

  // A refund's result queued afterwards, and its first attempt fails: the outbox is written whole.
  await refundRefusedOnce(repository, "W-1", "R1");
  expect(states(await stored.findPayment("s1", "W-1"))).toEqual(["delivered", "pending"]);
  expect(journal.unfolded).toBe(0);

  // No payment is left to fold, but the emptied journal document is deleted by the next pass.
  journal.start(lock);
  await waitFor("the emptied journal document deleted", async () => (await db.collection(DELIVERY_JOURNAL_COLLECTION).countDocuments()) === 0);
  await journal.stop();
  expect(genstore.calls.filter((c) => c.path.includes("/payment/W-1"))).toHaveLength(1);
});

test("folding waits until no payment read or write has been under way for a while, not for the gap between two requests", async () => {
  // Quiet only after an hour without requests: no fold starts, though the passes run.
  const { journal, repository } = storage(true, undefined, 3_600_000);
  await journal.load();
  await repository.claimPayment(capturedPayment("Q-1", at, { withCallback: true }));
  expect(await dispatcherOn(repository).runOnce()).toBe(1);
  // A second journal document, emptied by a whole write of its payment (a failed refund callback).
  await repository.claimPayment(capturedPayment("Q-2", at, { withCallback: true }));
  expect(await dispatcherOn(repository).runOnce()).toBe(1);
  await refundRefusedOnce(repository, "Q-2", "RQ");
  expect(await db.collection(DELIVERY_JOURNAL_COLLECTION).countDocuments()).toBe(2);
  expect(journal.unfolded).toBe(1);

  journal.start(lock);
  // A pass ran (it deleted the emptied document), and folded nothing.
  await waitFor("the emptied journal document deleted", async () => (await db.collection(DELIVERY_JOURNAL_COLLECTION).countDocuments()) <= 1);
  await journal.stop();
  expect(journal.unfolded).toBe(1);
  expect(await db.collection(DELIVERY_JOURNAL_COLLECTION).countDocuments()).toBe(1);
});

test("under load (never quiet), the journal is folded once more payments wait than its bound", async () => {
  const { stored, journal, repository } = storage(false, 2);
  await journal.load();
  journal.start(lock);
  for (const id of ids("B")) await repository.claimPayment(capturedPayment(id, at, { withCallback: true }));
  expect(await dispatcherOn(repository).runOnce()).toBe(3);
  // Over the bound of 2: folded down to 90% of it, oldest first, though it is never quiet here.
  await waitFor("a fold down to the bound", () => journal.unfolded <= 1);
  await journal.stop();
  expect(states(await stored.findPayment("s1", "B-1"))).toEqual(["delivered"]);
});

test("a delivery recorded from a copy older than the payment is journaled too: reads see it beside the callback queued since", async () => {
  const { stored, journal, repository } = storage();
  await journal.load();
  await repository.claimPayment(capturedPayment("V-1", at, { withCallback: true }));
  const copy = (await repository.findPayment("s1", "V-1"))!;
  // A refund's result queued after the dispatcher took its copy (a capture or refund requested
  // while the payment's own callback was on its way: the usual order in a payment's life).
  const refund = { ...paymentCallback(copy, "payment", true, undefined, at), id: "refund:R1", kind: "refund" as const, targetId: "R1" };
  await repository.updatePayment("s1", "V-1", {}, { event: { at, event: "refund succeeded" }, callback: refund });
  const writer = createOutboxWriter({ repository, mutex, lockKey: paymentLockKey, flushMs: 1 });
  writes.length = 0;
  await writer.record(copy, copy.callbacks[0]!.id, (cb) => recordAttempt(cb, { kind: "delivered", httpStatus: 200, durationMs: 1 }, at, policy));

  // One journal insert: no read, no rewrite of the payment.
  expect(writes).toEqual([`insert ${DELIVERY_JOURNAL_COLLECTION}`]);
  expect(states(await stored.findPayment("s1", "V-1"))).toEqual(["pending", "pending"]);
  const seen = (await repository.findPayment("s1", "V-1"))!;
  expect(seen.callbacks.map((c) => [c.id, c.state, c.attempts.length])).toEqual([
    [copy.callbacks[0]!.id, "delivered", 1],
    ["refund:R1", "pending", 0],
  ]);
  expect(seen.nextCallbackAt).not.toBeNull();
  // The old copy had nothing else pending, but the gauge does not take its word for it.
  expect((await repository.countCallbacks()).pending).toBe(1);

  // Folded: the document says the same, the refund's callback still pending.
  journal.start(lock);
  await waitFor("the journal folded", () => journal.unfolded === 0);
  await journal.stop();
  const after = (await stored.findPayment("s1", "V-1"))!;
  expect(after.callbacks.map((c) => [c.id, c.state, c.attempts.length])).toEqual(seen.callbacks.map((c) => [c.id, c.state, c.attempts.length]));
  expect(after.nextCallbackAt).not.toBeNull();
});

test("payments the database still finds due but the journal has delivered cannot stand in front of one really due", async () => {
  const { stored, journal, repository } = storage(false); // only the scan folds here
  await journal.load();
  journal.start(lock);
  for (const id of ids("S")) await repository.claimPayment(capturedPayment(id, at, { withCallback: true }));
  expect(await dispatcherOn(repository).runOnce()).toBe(3);
  // Due later than the three in the database's order; the scan reads two at a time.
  await repository.claimPayment(capturedPayment("S-due", new Date(at.getTime() + 1000), { withCallback: true }));
  const due = await repository.findDueCallbacks(new Date(at.getTime() + 2000), 2);
  await journal.stop();
  expect(due.map((p) => p._id)).toEqual(["S-due"]);
  for (const id of ids("S")) expect(states(await stored.findPayment("s1", id))).toEqual(["delivered"]);
});

test("an unreadable journal fact is logged and left out; the rest of the journal still counts", async () => {
  const { stored } = storage();
  await stored.claimPayment(capturedPayment("U-1", at, { withCallback: true }));
  const id = capturedPayment("U-1", at, { withCallback: true }).callbacks[0]!.id;
  await db.collection(DELIVERY_JOURNAL_COLLECTION).insertOne({
    _id: "d_test" as never,
    at,
    facts: ["{not json", JSON.stringify({ s: "s1", p: "U-1", i: id, t: at.toISOString(), d: 5, h: 200, n: true }), JSON.stringify({ s: "s1" })],
  });
  const logged: Record<string, unknown>[] = [];
  const { journal } = journaledStorage(db, { log: (e) => logged.push(e) });
  const repository = journal.observe(stored);
  expect(states(await repository.findPayment("s1", "U-1"))).toEqual(["delivered"]);
  expect(logged).toContainEqual(expect.objectContaining({ level: "error", msg: "delivery journal fact unreadable", journalId: "d_test" }));
});

test("a payment whose fold fails is passed over: the others are folded, and the failure logged", async () => {
  const logged: Record<string, unknown>[] = [];
  const { stored, journal } = journaledStorage(db, { log: (e) => logged.push(e) });
  let failing = false;
  const repository = journal.observe({
    ...stored,
    findPayment: (shopId, paymentId) => (failing && paymentId === "F-1" ? Promise.reject(new Error("disk full")) : stored.findPayment(shopId, paymentId)),
  });
  await journal.load();
  for (const id of ["F-1", "F-2"]) await repository.claimPayment(capturedPayment(id, at, { withCallback: true }));
  expect(await dispatcherOn(repository).runOnce()).toBe(2);
  failing = true;
  journal.start(lock);
  await waitFor("the other payment folded", async () => states(await stored.findPayment("s1", "F-2"))?.[0] === "delivered");
  await journal.stop();
  expect(journal.unfolded).toBe(1);
  expect(states(await stored.findPayment("s1", "F-1"))).toEqual(["pending"]);
  expect(logged).toContainEqual(expect.objectContaining({ level: "error", msg: "delivery journal fold failed", paymentId: "F-1", error: "Error: disk full" }));
});
