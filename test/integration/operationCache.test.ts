import { randomBytes } from "node:crypto";
import type { OperationRecord, PaymentRepository } from "../../src/payments/records";
import { cachedOperations } from "../../src/store/operationCache";
import { createPaymentCache } from "../../src/store/paymentCache";
import { createPaymentRepository } from "../../src/store/paymentRepository";
import { metricTotal } from "../helpers/metrics";
import { cardBody, genstoreClient, uniqueId } from "../helpers/payments";
import { startTestServer, type TestServer } from "../helpers/testServer";

// On the embedded FerretDB that one instance owns, the captures, voids and refunds it wrote last
// are read from memory (src/store/operationCache.ts). What it answers must be what the database
// holds, after every kind of write.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

/** The service's own count of finds on the refunds collection (db_commands_total). */
const refundFinds = () => metricTotal(server.url, "db_commands_total", { collection: "refunds", command: "find" });

test("a get refund right after the refund reads it from memory, and answers what the database holds", async () => {
  const gs = genstoreClient(server);
  const paymentId = uniqueId("opcache");
  expect((await gs.pay(cardBody(server, paymentId, { manualCapture: false }))).body.error).toBe("");
  const refundId = uniqueId("opcache-r");
  expect((await gs.refund(paymentId, "50.00", refundId)).body.error).toBe("");
  const before = await refundFinds();
  const answer = await gs.getRefund(refundId);
  expect(await refundFinds()).toBe(before);
  const doc = await server.db.collection("refunds").findOne({ genstoreId: refundId });
  expect(doc?.state).toBe("succeeded");
  expect(answer.body).toEqual({ status: "SUCCESS", channelRefundId: doc?.channelId, error: "" });
});

test("every kind of operation write leaves the entry equal to the record in the database, or leaves none", async () => {
  const db = server.db.client.db(`opcache_${randomBytes(4).toString("hex")}`);
  try {
    const inner = createPaymentRepository(db, { atomicConditionalUpdates: false });
    let reads = 0;
    const counted: PaymentRepository = { ...inner, findOperation: (...a) => (reads++, inner.findOperation(...a)) };
    const cache = createPaymentCache(10);
    const repo = cachedOperations(counted, cache);
    /** Read from memory, and equal to what the database holds. */
    const fromMemory = async (id = "R-1") => {
      const before = reads;
      const op = await repo.findOperation("refund", "s1", id);
      expect(reads).toBe(before);
      expect(op).toEqual(await inner.findOperation("refund", "s1", id));
      return op!;
    };
    const at = new Date();
    const refund = (id: string): OperationRecord => ({
      _id: id,
      shopId: "s1",
      kind: "refund",
      paymentId: "P-1",
      test: true,
      state: "processing",
      requestHash: "h",
      idempotencyKey: `refund-${id}`,
      channelId: "",
      requestId: "req_1",
      createdAt: at,
      updatedAt: at,
      amount: { minor: 400, value: "4.00", currency: "USD" },
    });

    const claim = refund("R-1");
    expect((await repo.claimOperation(claim)).inserted).toBe(true);
    // The caller's record changing afterwards does not change what memory answers.
    claim.state = "failed";
    expect((await fromMemory()).state).toBe("processing");
    // The id taken: nothing written, and the entry stays what the database holds.
    expect((await repo.claimOperation({ ...refund("R-1"), requestHash: "other" })).inserted).toBe(false);
    expect((await fromMemory()).requestHash).toBe("h");
    const finished = await repo.finishOperation("refund", "s1", "R-1", { state: "succeeded", channelId: "re_1" }, await fromMemory());
    expect((await fromMemory()).state).toBe("succeeded");
    expect(finished).toEqual(await fromMemory());
    // Already final: the second finish changes nothing, here as there.
    expect(await repo.finishOperation("refund", "s1", "R-1", { state: "failed", error: "late" })).toBeNull();
    expect((await fromMemory()).state).toBe("succeeded");
    // Another shop's request for the same id: not the entry (the database has none for that shop).
    expect(await repo.findOperation("refund", "s2", "R-1")).toBeNull();

    // A deleted claim: no entry, the read goes to the database, which has none.
    await repo.claimOperation(refund("R-2"));
    await fromMemory("R-2");
    await repo.deleteOperation("refund", "s1", "R-2");
    let before = reads;
    expect(await repo.findOperation("refund", "s1", "R-2")).toBeNull();
    expect(reads).toBe(before + 1);

    // A write that fails (it may still have reached the database): no entry either.
    await repo.claimOperation(refund("R-3"));
    const failing = cachedOperations({ ...counted, finishOperation: () => Promise.reject(new Error("connection lost")) }, cache);
    await expect(failing.finishOperation("refund", "s1", "R-3", { state: "succeeded" })).rejects.toThrow("connection lost");
    before = reads;
    expect((await repo.findOperation("refund", "s1", "R-3"))?.state).toBe("processing");
    expect(reads).toBe(before + 1);
  } finally {
    await db.dropDatabase();
  }
});
