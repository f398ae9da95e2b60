import { MongoClient, type CommandStartedEvent, type Db } from "mongodb";
import { DocumentRefused } from "../../src/store/commandBatcher";
import { createInsertBatcher } from "../../src/store/insertBatcher";
import { useMonitoredDatabase } from "../helpers/monitoredDatabase";

// Claims that meet go to the database as one insert command (src/store/insertBatcher.ts), on the
// real embedded FerretDB, and each caller still hears what became of its own document.
const monitored = useMonitoredDatabase("batch", ["insert"]);
const inserts = monitored.commands;
const db = () => monitored.db();

interface Doc {
  _id: string;
  n: number;
}

const documentsOf = (e: CommandStartedEvent) => (e.command.documents as unknown[]).length;

test("inserts that meet go as few commands; each caller hears its own document's fate", async () => {
  const collection = db().collection<Doc>("claims");
  await collection.insertOne({ _id: "taken", n: 0 });
  const insert = createInsertBatcher<Doc>(db(), "claims", 8);
  inserts.length = 0;
  const fresh = Array.from({ length: 26 }, (_, i) => `fresh-${i}`);
  // "refused" carries a field name the database refuses: mid-batch, so an insert that stopped at
  // the first refusal (an ordered one) would leave the fresh ones after it unstored.
  const ids = ["first", ...fresh.slice(0, 10), "taken", "refused", "twin", "twin", ...fresh.slice(10)];
  const docOf = (id: string, n: number): Doc => (id === "refused" ? ({ _id: id, n, $bad: true } as Doc) : { _id: id, n });
  const outcomes = await Promise.allSettled(ids.map((id, n) => insert(docOf(id, n))));
  const fate = (id: string) =>
    ids
      .map((x, i) => [x, outcomes[i]!] as const)
      .filter(([x]) => x === id)
      .map(([, o]) => (o.status === "fulfilled" ? o.value : o.reason instanceof DocumentRefused ? "refused" : "failed"))
      .sort();
  for (const id of ["first", ...fresh]) expect([id, fate(id)]).toEqual([id, ["inserted"]]);
  expect(fate("taken")).toEqual(["duplicate"]);
  expect(fate("twin")).toEqual(["duplicate", "inserted"]);
  expect(fate("refused")).toEqual(["refused"]);

  // The first went alone, at once; the 30 that came meanwhile went at most 8 to a command.
  expect(inserts.map(documentsOf)).toEqual([1, 8, 8, 8, 6]);
  const stored = await collection.find({}).sort({ _id: 1 }).toArray();
  expect(stored.map((d) => d._id)).toEqual(["first", ...fresh, "taken", "twin"].sort());
  expect(stored.find((d) => d._id === "taken")?.n).toBe(0);
});

test("a command the database refuses whole fails its own batch only; the next batch goes", async () => {
  // FerretDB refuses a collection name with a dollar sign before it looks at any document.
  inserts.length = 0;
  const insert = createInsertBatcher<Doc>(db(), "no$such");
  const failed = await Promise.allSettled([insert({ _id: "a", n: 1 }), insert({ _id: "b", n: 2 }), insert({ _id: "c", n: 3 })]);
  expect(failed.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
  expect(failed.some((o) => (o as PromiseRejectedResult).reason instanceof DocumentRefused)).toBe(false);
  // The database answered: the two that waited behind the first were sent, as their own batch.
  expect(inserts.map(documentsOf)).toEqual([1, 2]);

  const good = createInsertBatcher<Doc>(db(), "after");
  await expect(Promise.all([good({ _id: "x", n: 1 }), good({ _id: "y", n: 2 })])).resolves.toEqual(["inserted", "inserted"]);
});

test("when the database cannot be reached, those waiting fail with the batch, unsent, and the next insert is tried", async () => {
  const unreachable = new MongoClient("mongodb://127.0.0.1:9/", { serverSelectionTimeoutMS: 200 });
  let commands = 0;
  // The real client's database, with its command calls counted.
  const counted = new Proxy(unreachable.db("nowhere"), {
    get: (target, prop) => (prop === "command" ? (...args: Parameters<Db["command"]>) => (commands++, target.command(...args)) : Reflect.get(target, prop)),
  });
  const insert = createInsertBatcher<Doc>(counted, "claims");
  const failed = await Promise.allSettled([insert({ _id: "a", n: 1 }), insert({ _id: "b", n: 2 }), insert({ _id: "c", n: 3 })]);
  expect(failed.map((o) => (o.status === "rejected" ? (o.reason as Error).name : o.value))).toEqual(Array(3).fill("MongoServerSelectionError"));
  expect(commands).toBe(1);
  await expect(insert({ _id: "d", n: 4 })).rejects.toThrow();
  expect(commands).toBe(2);
  await unreachable.close();
});

test("a batch holds at most 8 MB of documents, however many wait", async () => {
  const insert = createInsertBatcher<Doc & { pad: string }>(db(), "large");
  inserts.length = 0;
  const pad = "x".repeat(5 * 1024 * 1024);
  const outcomes = await Promise.all(["a", "b", "c", "d"].map((id, n) => insert({ _id: id, n, pad: n === 3 ? "" : pad })));
  expect(outcomes).toEqual(Array(4).fill("inserted"));
  // The first alone, at once; then 5 MB each, the small one riding with the last large one.
  expect(inserts.map(documentsOf)).toEqual([1, 1, 2]);
});
