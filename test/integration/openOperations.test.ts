import { randomBytes } from "node:crypto";
import { MongoClient, type Db } from "mongodb";
import { pspIdempotencyKey } from "../../src/payments/idempotencyKeys";
import type { OperationKind, OperationRecord } from "../../src/payments/records";
import { createOpenOperations, scanOpenOperations } from "../../src/store/openOperations";
import { createPaymentRepository } from "../../src/store/paymentRepository";

// The reconciler's scan for stale captures, voids and refunds, answered from memory on FerretDB.
let client: MongoClient;
let db: Db;
const scans: string[] = [];
beforeAll(async () => {
  client = await new MongoClient(process.env.TEST_MONGODB_URI ?? "", { monitorCommands: true }).connect();
  db = client.db(`open_${randomBytes(4).toString("hex")}`);
  // Every read of an operations collection by anything but its _id: a whole-collection read on FerretDB.
  client.on("commandStarted", (e) => {
    const collection = e.command[e.commandName] as unknown;
    if (e.commandName !== "find" || !["captures", "voids", "refunds"].includes(String(collection))) return;
    const filter = (e.command.filter ?? {}) as Record<string, unknown>;
    if (Object.keys(filter).some((k) => k !== "_id" && k !== "shopId")) scans.push(`${String(collection)} ${JSON.stringify(filter)}`);
  });
});
afterAll(async () => {
  await db.dropDatabase();
  await client.close();
});

const at = new Date("2026-11-30T10:00:00Z");
const op = (kind: OperationKind, id: string, state: OperationRecord["state"] = "processing"): OperationRecord => ({
  _id: id,
  shopId: "s1",
  kind,
  paymentId: "P1",
  test: true,
  state,
  requestHash: "h",
  idempotencyKey: pspIdempotencyKey(kind, "s1", id),
  channelId: "",
  createdAt: at,
  updatedAt: at,
});

test("stale operations come from the set: loaded once, kept by writes, read by _id, never by a scan", async () => {
  const stored = createPaymentRepository(db, { atomicConditionalUpdates: false });
  // Left by an earlier run: one capture still processing, one refund final.
  await stored.claimOperation(op("capture", "C1"));
  await stored.claimOperation(op("refund", "R0", "succeeded"));

  const open = createOpenOperations(() => scanOpenOperations(db));
  const repo = open.observe(stored);
  await open.load();
  scans.length = 0;

  await repo.claimOperation(op("capture", "C2"));
  await repo.claimOperation(op("refund", "R1"));
  await repo.finishOperation("refund", "s1", "R1", { state: "succeeded", channelId: "re_1", updatedAt: new Date() });
  await repo.claimOperation(op("void", "V1"));
  await repo.deleteOperation("void", "s1", "V1");

  const later = new Date(at.getTime() + 60_000);
  expect((await repo.findStaleOperations("capture", later, 10)).map((o) => o._id).sort()).toEqual(["C1", "C2"]);
  expect(await repo.findStaleOperations("refund", later, 10)).toEqual([]);
  expect(await repo.findStaleOperations("void", later, 10)).toEqual([]);
  // Not yet stale: changed after `before`.
  expect(await repo.findStaleOperations("capture", at, 10)).toEqual([]);

  // Finished behind the set's back (a write its load raced with): read once, found final, dropped.
  await stored.finishOperation("capture", "s1", "C1", { state: "failed", updatedAt: new Date() });
  expect((await repo.findStaleOperations("capture", later, 10)).map((o) => o._id)).toEqual(["C2"]);
  expect(scans).toEqual([]);
});

test("if the set could not load, the database answers as before", async () => {
  const stored = createPaymentRepository(db, { atomicConditionalUpdates: false });
  await stored.claimOperation(op("refund", "R9"));
  // eslint-disable-next-line require-yield -- a scan that fails at once
  const open = createOpenOperations(async function* () {
    throw new Error("database gone");
  });
  await expect(open.load()).rejects.toThrow("database gone");
  scans.length = 0;
  const found = await open.observe(stored).findStaleOperations("refund", new Date(at.getTime() + 60_000), 10);
  expect(found.map((o) => o._id)).toContain("R9");
  expect(scans).toHaveLength(1);
});
