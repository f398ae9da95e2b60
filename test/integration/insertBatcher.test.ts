import { randomBytes } from "node:crypto";
import { MongoClient, type CommandStartedEvent, type Db } from "mongodb";
import { createInsertBatcher, DocumentRefused } from "../../src/store/insertBatcher";

// Claims that meet go to the database as one insert command (src/store/insertBatcher.ts), on the
// real embedded FerretDB, and each caller still hears what became of its own document.
let client: MongoClient;
let db: Db;
const inserts: CommandStartedEvent[] = [];
beforeAll(async () => {
  client = new MongoClient(process.env.TEST_MONGODB_URI ?? "", { monitorCommands: true });
  client.on("commandStarted", (e) => e.commandName === "insert" && inserts.push(e));
  await client.connect();
  db = client.db(`batch_${randomBytes(4).toString("hex")}`);
});
afterAll(async () => {
  await db.dropDatabase();
  await client.close();
});

interface Doc {
  _id: string;
  n: number;
}

const documentsOf = (e: CommandStartedEvent) => (e.command.documents as unknown[]).length;

test("inserts that meet go as few commands; each caller hears its own document's fate", async () => {
  const collection = db.collection<Doc>("claims");
  await collection.insertOne({ _id: "taken", n: 0 });
  const insert = createInsertBatcher<Doc>(db, "claims", 8);
  inserts.length = 0;
  const fresh = Array.from({ length: 26 }, (_, i) => `fresh-${i}`);
  const ids = ["first", ...fresh.slice(0, 10), "taken", "twin", "twin", ...fresh.slice(10)];
  const outcomes = await Promise.allSettled([
    ...ids.map((id, n) => insert({ _id: id, n })),
    // A field name the database refuses: only its caller hears of it.
    insert({ _id: "refused", n: 1, $bad: true } as Doc),
  ]);
  const byId = ids.map((id, i): [string, string] => [id, outcomes[i]!.status === "fulfilled" ? outcomes[i]!.value : "rejected"]);
  expect(byId.filter(([id]) => id.startsWith("fresh") || id === "first").every(([, o]) => o === "inserted")).toBe(true);
  expect(byId.filter(([id]) => id === "taken")).toEqual([["taken", "duplicate"]]);
  expect(
    byId
      .filter(([id]) => id === "twin")
      .map(([, o]) => o)
      .sort(),
  ).toEqual(["duplicate", "inserted"]);
  const refused = outcomes.at(-1)!;
  expect(refused.status).toBe("rejected");
  expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(DocumentRefused);

  // The first went alone, at once; the 30 that came meanwhile went at most 8 to a command.
  expect(inserts.map(documentsOf)).toEqual([1, 8, 8, 8, 6]);
  const stored = await collection.find({}).sort({ _id: 1 }).toArray();
  expect(stored.map((d) => d._id)).toEqual(["first", ...fresh, "taken", "twin"].sort());
  expect(stored.find((d) => d._id === "taken")?.n).toBe(0);
});

test("a command the database refuses whole fails every caller of its batch and those waiting; the next batch goes", async () => {
  // FerretDB refuses a collection name with a dollar sign before it looks at any document.
  inserts.length = 0;
  const insert = createInsertBatcher<Doc>(db, "no$such");
  const failed = await Promise.allSettled([insert({ _id: "a", n: 1 }), insert({ _id: "b", n: 2 }), insert({ _id: "c", n: 3 })]);
  expect(failed.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
  expect(failed.some((o) => (o as PromiseRejectedResult).reason instanceof DocumentRefused)).toBe(false);
  // The two that waited behind the first were not sent: they would have met the same database.
  expect(inserts.map(documentsOf)).toEqual([1]);

  const good = createInsertBatcher<Doc>(db, "after");
  await expect(Promise.all([good({ _id: "x", n: 1 }), good({ _id: "y", n: 2 })])).resolves.toEqual(["inserted", "inserted"]);
});
