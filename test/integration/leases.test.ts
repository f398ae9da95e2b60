import { randomBytes } from "node:crypto";
import { MongoClient, type Db } from "mongodb";
import { createLeases, type Leases } from "../../src/store/leases";

// Leases made of unique inserts on the embedded FerretDB, each "instance" on its own connection:
// one holder at a time, renewal past the first expiry, takeover of a dead owner's lease by one
// of several contenders at once.
const database = `leases_${randomBytes(4).toString("hex")}`;
const clients: MongoClient[] = [];
let db: Db;
const events: Record<string, unknown>[] = [];

async function instance(id: string, ttlMs: number): Promise<Leases> {
  const client = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await client.connect();
  clients.push(client);
  return createLeases(client.db(database), { instanceId: id, ttlMs, log: (e) => events.push({ ...e, instance: id }) });
}

beforeAll(async () => {
  const client = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await client.connect();
  clients.push(client);
  db = client.db(database);
});
afterAll(async () => {
  await db.dropDatabase();
  await Promise.all(clients.map((c) => c.close()));
});

/** Tasks that fail the test if two of them ever run at once. */
function exclusiveWork() {
  let inside = 0;
  let overlaps = 0;
  let done = 0;
  return {
    task: async () => {
      inside++;
      if (inside > 1) overlaps++;
      await new Promise((r) => setImmediate(r));
      await db.collection("probe").insertOne({ at: new Date() });
      inside--;
      done++;
    },
    result: () => ({ overlaps, done }),
  };
}

test("three instances holding one key: one at a time, every task runs", async () => {
  const all = await Promise.all(["a", "b", "c"].map((id) => instance(id, 5000)));
  const work = exclusiveWork();
  await Promise.all(Array.from({ length: 30 }, (_, i) => all[i % 3]!.hold("payment/s/one", work.task)));
  expect(work.result()).toEqual({ overlaps: 0, done: 30 });
  expect(await db.collection("leases").countDocuments({ _id: "payment/s/one" as never })).toBe(0);
});

test("a held lease is renewed past its first expiry; others cannot have it meanwhile", async () => {
  const [a, b] = await Promise.all([instance("a", 600), instance("b", 600)]);
  let tries = 0;
  const outcome = await a.tryHold("payment/s/renewed", async () => {
    const until = Date.now() + 3 * 600;
    while (Date.now() < until) {
      expect((await b.tryHold("payment/s/renewed", async () => "stolen")).held).toBe(false);
      tries++;
    }
    return "kept";
  });
  expect(outcome).toEqual({ held: true, value: "kept" });
  expect(tries).toBeGreaterThan(3);
  expect((await b.tryHold("payment/s/renewed", async () => "next")).held).toBe(true);
});

test("a dead owner's lease is taken over after it expires, by one of five contenders at a time", async () => {
  const contenders = await Promise.all(["c1", "c2", "c3", "c4", "c5"].map((id) => instance(id, 2000)));
  // The lease of an instance that died holding it: nobody renews or releases it.
  const expiresAt = new Date(Date.now() + 700);
  await db.collection("leases").insertOne({ _id: "payment/s/dead" as never, owner: "dead", token: "dead/1", expiresAt });
  const work = exclusiveWork();
  const started: number[] = [];
  await Promise.all(
    contenders.map((l) =>
      l.hold("payment/s/dead", async () => {
        started.push(Date.now());
        await work.task();
      }),
    ),
  );
  expect(work.result()).toEqual({ overlaps: 0, done: 5 });
  expect(Math.min(...started)).toBeGreaterThanOrEqual(expiresAt.getTime());
  expect(events.filter((e) => e.msg === "took over an expired lease" && e.lease === "payment/s/dead")).toHaveLength(1);
  // One marker for the dead lease: no second taker deleted the first one's lease.
  expect(await db.collection("leases").countDocuments({ marker: true })).toBe(1);
});
