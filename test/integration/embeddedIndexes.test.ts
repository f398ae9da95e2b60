import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { MongoClient, MongoServerError } from "mongodb";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../src/store/embeddedDatabase";
import { waitFor } from "../helpers/waitFor";

// The launcher (src/store/ferretdb/idindex.go) rebuilds FerretDB's unique _id index on the
// expression FerretDB looks documents up with. Read here from the SQLite file itself, beside the
// running database (WAL lets a reader in).
const cacheDir = resolve(__dirname, "../../.cache");
let dataDir: string;
let db: EmbeddedDatabase;
let client: MongoClient;
// What the launcher says (its warnings among them).
const said: string[] = [];
const start = () => startEmbeddedDatabase({ dataDir, cacheDir, log: (e) => said.push(String(e.msg)) });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "genstore-idindex-"));
  db = await start();
  client = await new MongoClient(db.uri).connect();
});

afterAll(async () => {
  await client.close();
  await db.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

interface IdIndexes {
  table: string;
  indexes: { name: string; sql: string }[];
  plan: string;
}

/** The collection's table, its indexes, and SQLite's plan for FerretDB's lookup by _id. */
function idIndexes(collection: string): IdIndexes | undefined {
  const file = new DatabaseSync(join(dataDir, "ferretdb", "idx.sqlite"), { readOnly: true });
  try {
    const row = file.prepare("SELECT table_name FROM _ferretdb_collections WHERE name = ?").get(collection) as { table_name: string } | undefined;
    if (!row) return undefined;
    const table = row.table_name;
    const indexes = file.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL").all(table) as {
      name: string;
      sql: string;
    }[];
    const plan = (
      file.prepare(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM "${table}" WHERE _ferretdb_sjson->'$._id' = ?`).all('"a"') as { detail: string }[]
    )
      .map((r) => r.detail)
      .join("; ");
    return { table, indexes, plan };
  } finally {
    file.close();
  }
}

const rebuilt = (collection: string) =>
  waitFor(
    `the launcher to rebuild ${collection}'s _id index`,
    async () => {
      const found = idIndexes(collection);
      return found?.indexes.some((i) => i.name === `${found.table}__id_` && i.sql.includes("'$._id'")) ? found : undefined;
    },
    10_000,
    100,
  );

test("a collection keeps one _id index, unique, on the expression FerretDB looks _id up with", async () => {
  const things = client.db("idx").collection<{ _id: string; n: number }>("things");
  await things.insertOne({ _id: "a", n: 1 });
  const found = await rebuilt("things");
  expect(found.indexes).toEqual([{ name: `${found.table}__id_`, sql: expect.stringMatching(/^CREATE UNIQUE INDEX .*_ferretdb_sjson->'\$\._id'\)$/) }]);
  expect(found.plan).toContain(`USING INDEX ${found.table}__id_`);

  // Still the claim that answers duplicates once: a second insert of the _id is a duplicate key.
  const again = await things.insertOne({ _id: "a", n: 2 }).catch((e: unknown) => e);
  expect(again).toBeInstanceOf(MongoServerError);
  expect((again as MongoServerError).code).toBe(11000);
  await things.updateOne({ _id: "a" }, { $set: { n: 3 } });
  await things.insertOne({ _id: "b", n: 4 });
  expect(await things.find({}, { sort: { _id: 1 } }).toArray()).toEqual([
    { _id: "a", n: 3 },
    { _id: "b", n: 4 },
  ]);
}, 30_000);

/** Stops the database and puts back the index FerretDB makes (and the lookup index earlier versions added). */
async function restoreFerretdbLayout(collection: string, rowid?: number): Promise<string> {
  const { table } = await rebuilt(collection);
  await client.close();
  await db.stop();
  const file = new DatabaseSync(join(dataDir, "ferretdb", "idx.sqlite"), { enableDoubleQuotedStringLiterals: true });
  file.exec(`DROP INDEX "${table}__id_"; CREATE UNIQUE INDEX "${table}__id_" ON "${table}" (_ferretdb_sjson->"_id");
    CREATE INDEX "${table}__id_lookup" ON "${table}" (_ferretdb_sjson->'$._id')`);
  // A large table, as its largest rowid tells the launcher.
  if (rowid) file.exec(`UPDATE "${table}" SET rowid = ${rowid} WHERE rowid = (SELECT max(rowid) FROM "${table}")`);
  file.close();
  expect(
    idIndexes(collection)
      ?.indexes.map((i) => i.name)
      .sort(),
  ).toEqual([`${table}__id_`, `${table}__id_lookup`]);
  return table;
}

async function restart(): Promise<void> {
  db = await start();
  client = await new MongoClient(db.uri).connect();
}

const duplicateRefused = async (collection: string) => {
  const again = await client
    .db("idx")
    .collection<{ _id: string }>(collection)
    .insertOne({ _id: "a" })
    .catch((e: unknown) => e);
  expect((again as MongoServerError).code).toBe(11000);
};

test("a file from before (FerretDB's own _id index) is rebuilt before the database takes a connection", async () => {
  await client.db("idx").collection<{ _id: string }>("orders").insertOne({ _id: "a" });
  const table = await restoreFerretdbLayout("orders");
  db = await start();
  // No wait: the launcher rebuilds it before FerretDB listens.
  expect(idIndexes("orders")?.indexes).toEqual([{ name: `${table}__id_`, sql: expect.stringContaining("UNIQUE INDEX") }]);
  expect(idIndexes("orders")?.indexes[0]?.sql).toContain("'$._id'");
  client = await new MongoClient(db.uri).connect();
  await duplicateRefused("orders");
}, 30_000);

test("a table too large to rebuild in place keeps FerretDB's index and gets the lookup index", async () => {
  await client.db("idx").collection<{ _id: string }>("large").insertOne({ _id: "a" });
  const table = await restoreFerretdbLayout("large", 300_000);
  await client
    .db("idx")
    .collection("large")
    .drop()
    .catch(() => {}); // (not reached: the database is stopped)
  await restart();
  const found = idIndexes("large")!;
  expect(found.indexes.map((i) => i.name).sort()).toEqual([`${table}__id_`, `${table}__id_lookup`]);
  expect(found.indexes.find((i) => i.name === `${table}__id_`)?.sql).toContain('->"_id"');
  expect(found.plan).toContain(`USING INDEX ${table}__id_lookup`);
  await duplicateRefused("large");
}, 30_000);

test("collections made after FerretDB analyzed its tables (sqlite_stat1) are still indexed", async () => {
  const idx = client.db("idx");
  await idx.collection("before").insertOne({ _id: "x" } as never);
  await rebuilt("before");
  await idx.command({ dbStats: 1 }); // FerretDB runs ANALYZE for it: SQLite adds sqlite_stat1
  await idx.collection<{ _id: string }>("after").insertOne({ _id: "a" });
  await rebuilt("after");
  await duplicateRefused("after");
  expect(said.filter((m) => m.includes("could not index"))).toEqual([]);
}, 30_000);
