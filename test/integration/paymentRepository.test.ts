import { randomBytes } from "node:crypto";
import { MongoClient, type Db } from "mongodb";
import { pspIdempotencyKey } from "../../src/payments/idempotencyKeys";
import type { OperationRecord, PaymentRecord } from "../../src/payments/records";
import { ensureIndexes, isFerretDB } from "../../src/store/database";
import { createPaymentRepository } from "../../src/store/paymentRepository";
import { PACKED_FIELDS } from "../../src/store/storedEntries";
import { toStored } from "../../src/store/storedRecords";
import { capturedPayment } from "../helpers/records";

// Both ways of guarding a payment update give the same answers: in the filter (MongoDB, atomic)
// and checked on a read by _id (the embedded FerretDB under the per-payment lock).
let client: MongoClient;
let db: Db;
const insertCommands: string[] = [];
/** The _ids of each update command's statements, as sent. */
const updateCommands: string[][] = [];
beforeAll(async () => {
  client = new MongoClient(process.env.TEST_MONGODB_URI ?? "", { monitorCommands: true });
  client.on("commandStarted", (e) => e.commandName === "insert" && insertCommands.push(e.command.insert as string));
  client.on("commandStarted", (e) => e.commandName === "update" && updateCommands.push((e.command.updates as { q: { _id: string } }[]).map((u) => u.q._id)));
  await client.connect();
  db = client.db(`repo_${randomBytes(4).toString("hex")}`);
});
afterAll(async () => {
  await db.dropDatabase();
  await client.close();
});

const at = new Date("2026-02-03T04:05:06Z");
const payment = (id: string, shopId: string): PaymentRecord =>
  capturedPayment(id, at, { shopId, minor: 1000, idempotencyKey: pspIdempotencyKey("payment", shopId, id) });

const operation = (id: string, paymentId: string, shopId: string): OperationRecord => ({
  _id: id,
  shopId,
  kind: "refund",
  paymentId,
  test: true,
  state: "processing",
  requestHash: "h",
  idempotencyKey: pspIdempotencyKey("refund", shopId, id),
  channelId: "",
  createdAt: at,
  updatedAt: at,
});

describe.each([true, false])("atomicConditionalUpdates=%s", (atomic) => {
  test("guards decide, shops are kept apart, records are stored under their shop-scoped key", async () => {
    const repo = createPaymentRepository(db, { atomicConditionalUpdates: atomic });
    const id = `P-${atomic}`;
    expect((await repo.claimPayment(payment(id, "shop-a"))).inserted).toBe(true);
    expect((await repo.claimPayment(payment(id, "shop-a"))).inserted).toBe(false);
    // The same Genstore id in another shop is another payment.
    expect((await repo.claimPayment(payment(id, "shop-b"))).inserted).toBe(true);
    const raw = await db.collection("payments").findOne({ genstoreId: id, shopId: "shop-a" });
    expect(raw?._id).toBe(pspIdempotencyKey("payment", "shop-a", id));

    const event = { at, event: "e" };
    expect(await repo.updatePayment("shop-a", id, { states: ["authorized"] }, { event })).toBeNull();
    expect(await repo.updatePayment("shop-a", id, { refundableAtLeast: 1001 }, { event })).toBeNull();
    const reserved = await repo.updatePayment(
      "shop-a",
      id,
      { states: ["captured"], refundableAtLeast: 1000 },
      {
        inc: { refundableMinor: -400, refundReservedMinor: 400 },
        addRefundInFlight: { id: "r1", minor: 400 },
        event,
      },
    );
    expect(reserved).toMatchObject({ _id: id, shopId: "shop-a", refundableMinor: 600, refundReservedMinor: 400, refundsInFlight: [{ id: "r1", minor: 400 }] });
    expect(await repo.updatePayment("shop-a", id, { refundInFlightId: "r2" }, { event })).toBeNull();
    const settled = await repo.updatePayment(
      "shop-a",
      id,
      { refundInFlightId: "r1" },
      { inc: { refundReservedMinor: -400, refundedMinor: 400 }, removeRefundInFlight: { id: "r1", minor: 400 }, set: { state: "partially_refunded" }, event },
    );
    expect(settled).toMatchObject({ state: "partially_refunded", refundedMinor: 400, refundsInFlight: [] });
    // Settling the same refund again finds no refund in flight.
    expect(await repo.updatePayment("shop-a", id, { refundInFlightId: "r1" }, { inc: { refundedMinor: 400 }, event })).toBeNull();
    expect(await repo.updatePayment("shop-a", id, { idle: true }, { set: { activeOperation: { kind: "capture", id: "c1" } }, event })).toMatchObject({
      activeOperation: { id: "c1" },
    });
    expect(await repo.updatePayment("shop-a", id, { idle: true }, { event })).toBeNull();
    expect(await repo.updatePayment("shop-a", id, { activeOperationId: "c2" }, { event })).toBeNull();
    expect(await repo.updatePayment("shop-a", id, { activeOperationId: "c1" }, { set: { activeOperation: null }, event })).toMatchObject({
      activeOperation: null,
    });

    // Shop b's payment is untouched; the timeline kept every applied change.
    expect(await repo.findPayment("shop-b", id)).toMatchObject({ refundedMinor: 0, timeline: [] });
    expect((await repo.findPayment("shop-a", id))?.timeline).toHaveLength(4);
    expect(await repo.findPayment("shop-c", id)).toBeNull();
    expect(await repo.findPaymentByIdempotencyKey(pspIdempotencyKey("payment", "shop-b", id))).toMatchObject({ _id: id, shopId: "shop-b" });
  });

  test("claims made at once are each answered once; on FerretDB they go as one insert after the first", async () => {
    const repo = createPaymentRepository(db, { atomicConditionalUpdates: atomic });
    const ids = Array.from({ length: 12 }, (_, i) => `C-${atomic}-${i}`);
    insertCommands.length = 0;
    const claims = await Promise.all([...ids, ids[3]!].map((id) => repo.claimPayment(payment(id, "shop-c"))));
    // The two claims of one id: one inserts (either, with MongoDB's concurrent inserts), the other finds it.
    const twins = [claims[3]!, claims.at(-1)!];
    expect(twins.map((c) => c.inserted).sort()).toEqual([false, true]);
    expect(twins.map((c) => c.record._id)).toEqual([ids[3], ids[3]]);
    expect(
      claims
        .filter((c) => c.inserted)
        .map((c) => c.record._id)
        .sort(),
    ).toEqual([...ids].sort());
    const ops = await Promise.all(ids.slice(0, 5).map((id) => repo.claimOperation(operation(`R-${id}`, id, "shop-c"))));
    expect(ops.every((c) => c.inserted)).toBe(true);
    const expected = atomic ? [...Array(13).fill("payments"), ...Array(5).fill("refunds")] : ["payments", "payments", "refunds", "refunds"];
    expect(insertCommands).toEqual(expected);
  });

  test("an operation finishes once and only a processing one is deleted", async () => {
    const repo = createPaymentRepository(db, { atomicConditionalUpdates: atomic });
    const op = {
      _id: `C-${atomic}`,
      shopId: "shop-a",
      kind: "capture" as const,
      paymentId: "P",
      test: true,
      state: "processing" as const,
      requestHash: "h",
      idempotencyKey: "k",
      channelId: "",
      createdAt: at,
      updatedAt: at,
    };
    await repo.claimOperation(op);
    expect(await repo.findOperation("capture", "shop-b", op._id)).toBeNull();
    expect(await repo.finishOperation("capture", "shop-a", op._id, { state: "succeeded", channelId: "cp_1" })).toMatchObject({
      _id: op._id,
      state: "succeeded",
      channelId: "cp_1",
    });
    expect(await repo.finishOperation("capture", "shop-a", op._id, { state: "failed" })).toBeNull();
    await repo.deleteOperation("capture", "shop-a", op._id);
    expect(await repo.findOperation("capture", "shop-a", op._id)).toMatchObject({ state: "succeeded" });
  });
  test("an outbox is written only while its payment is at the version given; one unknown to this process is not written unread", async () => {
    const repo = createPaymentRepository(db, { atomicConditionalUpdates: atomic });
    const id = `O-${atomic}`;
    await repo.claimPayment(payment(id, "shop-a"));
    const changed = await repo.updatePayment("shop-a", id, {}, { event: { at, event: "changed" } });
    expect(changed?.version).toBe(1);
    const outbox = (version: number | undefined, n: number) => ({ shopId: "shop-a", paymentId: id, version, callbacks: [], nextCallbackAt: new Date(n) });
    expect(await repo.saveOutboxes([outbox(undefined, 1), outbox(1, 2)])).toEqual([false, true]);
    expect((await repo.findPayment("shop-a", id))?.nextCallbackAt).toEqual(new Date(2));
    // Another instance of the repository (a restart) has not seen this payment: it must read first
    // on FerretDB; on MongoDB the filter decides.
    const other = createPaymentRepository(db, { atomicConditionalUpdates: atomic });
    expect(await other.saveOutboxes([outbox(1, 3)])).toEqual([atomic]);
    await other.findPayment("shop-a", id);
    expect(await other.saveOutboxes([outbox(1, 4)])).toEqual([true]);
  });
});

test("an update given the payment as read under its lock answers what the database now holds, without reading it back", async () => {
  const repo = createPaymentRepository(db, { atomicConditionalUpdates: false });
  const id = "K-1";
  let p = (await repo.claimPayment(payment(id, "shop-a"))).record;
  const callback = {
    id: "refund:r1",
    kind: "refund" as const,
    targetId: "r1",
    body: { refundId: "r1", status: true },
    state: "pending" as const,
    attempts: [],
    nextAttemptAt: at,
    createdAt: at,
  };
  const changes = [
    { inc: { refundableMinor: -400, refundReservedMinor: 400 }, addRefundInFlight: { id: "r1", minor: 400 }, event: { at, event: "reserve", requestId: "q1" } },
    { set: { activeOperation: { kind: "capture" as const, id: "c1" }, error: undefined }, event: { at: new Date(at.getTime() + 1), event: "hold" } },
    {
      inc: { refundReservedMinor: -400, refundedMinor: 400 },
      removeRefundInFlight: { id: "r1", minor: 400 },
      set: { state: "partially_refunded" as const, activeOperation: null },
      callback,
      event: { at: new Date(at.getTime() + 2), event: "settle", state: "partially_refunded" as const },
    },
  ];
  for (const change of changes) {
    const answered = await repo.updatePayment("shop-a", id, {}, change, p);
    const stored = await createPaymentRepository(db, { atomicConditionalUpdates: false }).findPayment("shop-a", id);
    expect(answered).toEqual(stored);
    p = answered!;
  }
  expect(p).toMatchObject({ version: 3, refundedMinor: 400, refundsInFlight: [], callbacks: [{ id: "refund:r1" }], timeline: [{}, {}, {}] });
  const op = {
    _id: "KC-1",
    shopId: "shop-a",
    kind: "capture" as const,
    paymentId: id,
    test: true,
    state: "processing" as const,
    requestHash: "h",
    idempotencyKey: "k",
  };
  const claimed = (await repo.claimOperation({ ...op, channelId: "", createdAt: at, updatedAt: at })).record;
  const finished = await repo.finishOperation(
    "capture",
    "shop-a",
    op._id,
    { state: "failed", channelId: "cp_9", error: "declined", requestId: undefined },
    claimed,
  );
  expect(finished).toEqual(await repo.findOperation("capture", "shop-a", op._id));
  expect(finished).toMatchObject({ state: "failed", channelId: "cp_9", error: "declined" });
});

test("where guards are checked here, a payment's cold fields are one text; a document an older version wrote reads and updates as before", async () => {
  const repo = createPaymentRepository(db, { atomicConditionalUpdates: false });
  const p = { ...payment("PK-1", "shop-a"), card: { brand: "visa", last4: "4242", expiryMonth: 12, expiryYear: 2029, fingerprint: "f" } };
  await repo.claimPayment(p);
  const raw = (await db.collection("payments").findOne({ genstoreId: "PK-1" }))!;
  expect(typeof raw.fields).toBe("string");
  for (const k of PACKED_FIELDS) expect(raw).not.toHaveProperty(k);
  // What the scans and listings filter on stays top-level.
  expect(raw).toMatchObject({ shopId: "shop-a", state: "captured", test: true, createdAt: at, nextCallbackAt: null });
  expect(await repo.findPayment("shop-a", "PK-1")).toEqual(p);
  // An update rewrites the text with the change applied (the record read under the lock, here read anew).
  const hold = {
    inc: { refundableMinor: -250, refundReservedMinor: 250 },
    addRefundInFlight: { id: "r0", minor: 250 },
    event: { at, event: "refund requested" },
  };
  await repo.updatePayment("shop-a", "PK-1", { refundableAtLeast: 250 }, hold);
  expect(await repo.findPayment("shop-a", "PK-1")).toMatchObject({
    refundableMinor: 750,
    refundReservedMinor: 250,
    refundsInFlight: [{ id: "r0", minor: 250 }],
    version: 1,
  });
  for (const k of PACKED_FIELDS) expect(await db.collection("payments").findOne({ genstoreId: "PK-1" })).not.toHaveProperty(k);
  // MongoDB tests amounts and holds in its update filters: every field stays top-level there.
  await createPaymentRepository(db, { atomicConditionalUpdates: true }).claimPayment(payment("PK-2", "shop-a"));
  const top = (await db.collection("payments").findOne({ genstoreId: "PK-2" }))!;
  expect(top).not.toHaveProperty("fields");
  expect(top).toMatchObject({ refundableMinor: 1000, amount: { minor: 1000 } });

  // A document as an earlier version stored it, every field top-level: read as it is, and its
  // first update packs the fields, which win over the top-level ones it leaves behind.
  const old = payment("PK-3", "shop-a");
  await db.collection("payments").insertOne(toStored(old, pspIdempotencyKey("payment", "shop-a", "PK-3")) as never);
  expect(await repo.findPayment("shop-a", "PK-3")).toEqual(old);
  const event = { at, event: "refund requested" };
  const reserve = { inc: { refundableMinor: -400, refundReservedMinor: 400 }, addRefundInFlight: { id: "r1", minor: 400 }, event };
  expect(await repo.updatePayment("shop-a", "PK-3", { refundableAtLeast: 400 }, reserve)).toMatchObject({
    refundableMinor: 600,
    refundsInFlight: [{ id: "r1", minor: 400 }],
  });
  expect(await repo.updatePayment("shop-a", "PK-3", { refundableAtLeast: 601 }, reserve)).toBeNull();
  expect(await repo.findPayment("shop-a", "PK-3")).toMatchObject({
    refundableMinor: 600,
    refundReservedMinor: 400,
    refundsInFlight: [{ id: "r1", minor: 400 }],
    version: 1,
  });
});

test("the embedded FerretDB is recognised, so the service checks guards itself under its lock", async () => {
  expect(await isFerretDB(db)).toBe(true);
});

test("FerretDB keeps no secondary index of ours: those an older version made are dropped, an operator's and _id's stay", async () => {
  // FerretDB answers only _id filters from an index, and each index costs every write a parse.
  const other = client.db(`idx_${randomBytes(4).toString("hex")}`);
  try {
    await other.collection("payments").createIndex({ shopId: 1, createdAt: -1 });
    await other.collection("payments").createIndex({ operatorField: 1 });
    await other.collection("refunds").createIndex({ paymentId: 1 });
    const dropped: string[] = [];
    await ensureIndexes(other, (name, collection) => dropped.push(`${collection}.${name}`));
    expect(dropped.sort()).toEqual(["payments.shopId_1_createdAt_-1", "refunds.paymentId_1"]);
    expect((await other.collection("payments").indexes()).map((i) => i.name).sort()).toEqual(["_id_", "operatorField_1"]);
    expect((await other.collection("refunds").indexes()).map((i) => i.name)).toEqual(["_id_"]);
    // Two instances starting at once: the one that finds an index already gone starts all the same.
    await other.collection("payments").createIndex({ nextCallbackAt: 1 });
    await Promise.all([ensureIndexes(other), ensureIndexes(other)]);
    expect((await other.collection("payments").indexes()).map((i) => i.name).sort()).toEqual(["_id_", "operatorField_1"]);
  } finally {
    await other.dropDatabase();
  }
});

test("on FerretDB a change answered already queues with the others; one someone waits for never joins them", async () => {
  const repo = createPaymentRepository(db, { atomicConditionalUpdates: false });
  const ids = ["LA-1", "LA-2", "LA-3", "LW-1"];
  const claimed = await Promise.all(ids.map(async (id) => (await repo.claimPayment(payment(id, "shop-l"))).record));
  const key = (id: string) => pspIdempotencyKey("payment", "shop-l", id);
  updateCommands.length = 0;
  const event = { at, event: "psp: approved" };
  const written = await Promise.all(
    claimed.map((p) => repo.updatePayment("shop-l", p._id, {}, { event, ...(p._id.startsWith("LA") ? { answered: true } : {}) }, p)),
  );
  expect(written.map((p) => p?.version)).toEqual([1, 1, 1, 1]);
  // The waited one at once, in a command of its own; the three answered ones together, once the
  // continuations queued with them (where their answers would be written) had run.
  expect(updateCommands).toEqual([[key("LW-1")], [key("LA-1"), key("LA-2"), key("LA-3")]]);
  // Only how to send it: never stored.
  expect(await db.collection("payments").countDocuments({ answered: { $exists: true } })).toBe(0);
});
