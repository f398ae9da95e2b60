import { randomBytes } from "node:crypto";
import { MongoClient, type CommandStartedEvent, type Db } from "mongodb";
import { DocumentRefused } from "../../src/store/commandBatcher";
import { createStatementBudget } from "../../src/store/statementBudget";
import { createUpdateBatcher } from "../../src/store/updateBatcher";
import { useMonitoredDatabase } from "../helpers/monitoredDatabase";

// Updates by _id that meet go to the database as one update command (src/store/updateBatcher.ts),
// on the real embedded FerretDB, and each caller still hears whether its own document was there.
const monitored = useMonitoredDatabase("upd", ["update", "find"]);
const commands = monitored.commands;
const db = () => monitored.db();

interface Doc {
  _id: string;
  n: number;
  label: string;
  seen: string[];
}

const statementsOf = (e: CommandStartedEvent) => (e.command.updates as unknown[]).length;
const updatesSent = () => commands.filter((e) => e.commandName === "update").map(statementsOf);
const lookups = () => commands.filter((e) => e.commandName === "find").length;
const bump = (by: string) => ({ $inc: { n: 1 }, $push: { seen: by } });

test("updates that meet go as few commands, each applied once; each caller hears its own", async () => {
  const collection = db().collection<Doc>("payments");
  const ids = Array.from({ length: 27 }, (_, i) => `p-${i}`);
  await collection.insertMany(ids.map((_id) => ({ _id, n: 0, label: "x", seen: [] })));
  const update = createUpdateBatcher(db(), "payments", createStatementBudget(), 8);
  commands.length = 0;
  const outcomes = await Promise.all(ids.map((id) => update(id, bump(id))));
  expect(outcomes).toEqual(ids.map(() => true));
  // The first went alone, at once; the 26 that came meanwhile went at most 8 to a command.
  expect(updatesSent()).toEqual([1, 8, 8, 8, 2]);
  // Every one matched: no lookup.
  expect(lookups()).toBe(0);
  const stored = await collection.find({}).toArray();
  for (const d of stored) expect([d._id, d.n, d.seen]).toEqual([d._id, 1, [d._id]]);
});

test("a statement that matched nothing is told apart by a lookup", async () => {
  const collection = db().collection<Doc>("ghosts");
  await collection.insertMany(["a", "b", "c"].map((_id) => ({ _id, n: 0, label: "x", seen: [] })));
  const update = createUpdateBatcher(db(), "ghosts", createStatementBudget());
  commands.length = 0;
  const ids = ["a", "b", "ghost", "c"];
  expect(await Promise.all(ids.map((id) => update(id, bump(id))))).toEqual([true, true, false, true]);
  expect(updatesSent()).toEqual([1, 3]);
  expect(lookups()).toBe(3);
  const stored = await collection.find({}).sort({ _id: 1 }).toArray();
  expect(stored.map((d) => [d._id, d.n])).toEqual([
    ["a", 1],
    ["b", 1],
    ["c", 1],
  ]);
  expect(await collection.countDocuments({ _id: "ghost" })).toBe(0);
});

test("a refused update alone is its caller's refusal; in a batch, no update is applied twice and none is told it landed", async () => {
  const collection = db().collection<Doc>("mixed");
  await collection.insertMany(["a", "b", "c", "d", "e", "f"].map((_id) => ({ _id, n: 0, label: "x", seen: [] })));
  const update = createUpdateBatcher(db(), "mixed", createStatementBudget());
  // Alone: "a" is refused by the database ($inc of a text), and hears so.
  await expect(update("a", { $inc: { label: 1 } })).rejects.toBeInstanceOf(DocumentRefused);
  commands.length = 0;
  // Mid-batch: "b" goes alone, then c, d, the refused e, and f wait and go together. FerretDB
  // applies c and d, stops at e and says only that one was refused, at place 0.
  const outcomes = await Promise.allSettled([
    update("b", bump("b")),
    update("c", bump("c")),
    update("d", bump("d")),
    update("e", { $inc: { label: 1 } }),
    update("f", bump("f")),
  ]);
  expect(outcomes[0]).toEqual({ status: "fulfilled", value: true });
  for (const o of outcomes.slice(1))
    expect(o).toEqual({ status: "rejected", reason: expect.objectContaining({ message: expect.stringMatching(/may or may not have been applied/) }) });
  expect(updatesSent()).toEqual([1, 4]);
  const stored = await collection.find({}).sort({ _id: 1 }).toArray();
  expect(stored.map((d) => [d._id, d.n, d.seen.length])).toEqual([
    ["a", 0, 0],
    ["b", 1, 1],
    ["c", 1, 1],
    ["d", 1, 1],
    ["e", 0, 0],
    ["f", 0, 0],
  ]);
});

test("when the database cannot be reached, those waiting fail with the batch, unsent", async () => {
  const unreachable = new MongoClient("mongodb://127.0.0.1:9/", { serverSelectionTimeoutMS: 200 });
  const update = createUpdateBatcher(unreachable.db("nowhere"), "payments", createStatementBudget());
  const failed = await Promise.allSettled(["a", "b", "c"].map((id) => update(id, bump(id))));
  expect(failed.map((o) => (o.status === "rejected" ? (o.reason as Error).name : o.value))).toEqual(Array(3).fill("MongoServerSelectionError"));
  await unreachable.close();
});

test("an update someone waits for never goes in a batch of answered ones, nor waits for it to form", async () => {
  const collection = db().collection<Doc>("lanes");
  const ids = Array.from({ length: 9 }, (_, i) => `l-${i}`);
  await collection.insertMany([...ids, "waited"].map((_id) => ({ _id, n: 0, label: "x", seen: [] })));
  const update = createUpdateBatcher(db(), "lanes", createStatementBudget());
  commands.length = 0;
  const answered = ids.map((id) => update(id, bump(id), true));
  const waited = update("waited", bump("waited"));
  expect(await Promise.all([...answered, waited])).toEqual(Array(10).fill(true));
  // The waited one went at once, alone, though queued last. The answered ones waited for the
  // continuations queued with them (their answers), and went as one command.
  const sent = commands.filter((e) => e.commandName === "update").map((e) => (e.command.updates as { q: { _id: string } }[]).map((s) => s.q._id));
  expect(sent).toEqual([["waited"], ids]);
});

test("an answered update is sent after the continuations queued with it, and before the next I/O", async () => {
  const collection = db().collection<Doc>("turns");
  await collection.insertMany(["answered", "waited"].map((_id) => ({ _id, n: 0, label: "x", seen: [] })));
  // The real database, with each command the batcher sends noted as it is sent.
  const steps: string[] = [];
  const noted = new Proxy(db(), {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === "command") return (...args: Parameters<Db["command"]>) => (steps.push("command"), target.command(...args));
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const update = createUpdateBatcher(noted, "turns", createStatementBudget());
  const order = async (answered: boolean) => {
    steps.length = 0;
    setImmediate(() => steps.push("next I/O")); // the poll phase's work comes after this
    const written = update(answered ? "answered" : "waited", bump("t"), answered);
    // The answer's continuations, queued after the update, two steps deep.
    const answer = Promise.resolve()
      .then(() => Promise.resolve())
      .then(() => steps.push("answer"));
    expect(await written).toBe(true);
    await answer;
    await new Promise((r) => setImmediate(r));
    return steps;
  };
  expect(await order(false)).toEqual(["command", "answer", "next I/O"]);
  expect(await order(true)).toEqual(["answer", "command", "next I/O"]);
});

test("a command carries at most 16 statements: FerretDB holds a connection for each until it ends", async () => {
  const collection = db().collection<Doc>("many");
  const ids = Array.from({ length: 41 }, (_, i) => `m-${i}`);
  await collection.insertMany(ids.map((_id) => ({ _id, n: 0, label: "x", seen: [] })));
  const update = createUpdateBatcher(db(), "many", createStatementBudget());
  commands.length = 0;
  expect(await Promise.all(ids.map((id) => update(id, bump(id))))).toEqual(ids.map(() => true));
  expect(updatesSent()).toEqual([1, 16, 16, 8]);
});

test("batches of several collections at once stay within FerretDB's connections, where unbudgeted they would hang it", async () => {
  // Its own client with room for four commands at once, its own database: a hang stays in it.
  const wide = new MongoClient(process.env.TEST_MONGODB_URI ?? "", { maxPoolSize: 4, socketTimeoutMS: 15_000 });
  await wide.connect();
  const own = wide.db(`budget_${randomBytes(4).toString("hex")}`);
  const names = ["a", "b", "c"];
  const ids = Array.from({ length: 130 }, (_, i) => `d-${i}`);
  for (const name of names) await own.collection<Doc>(name).insertMany(ids.map((_id) => ({ _id, n: 0, label: "x", seen: [] })));
  // One budget for the database; batches of 64, as the outbox writes may be: three at once hold 192 statements.
  const budget = createStatementBudget();
  const batchers = names.map((name) => createUpdateBatcher(own, name, budget, 64));
  const all = names.flatMap((_, k) => ids.map((id) => batchers[k]!(id, bump(id))));
  expect((await Promise.all(all)).every(Boolean)).toBe(true);
  for (const name of names) expect(await own.collection<Doc>(name).countDocuments({ n: 1 })).toBe(ids.length);
  await own.dropDatabase();
  await wide.close();
}, 60_000);
