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

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "genstore-idindex-"));
  db = await startEmbeddedDatabase({ dataDir, cacheDir });
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

test("a file from before (FerretDB's own _id index) is rebuilt before the database takes a connection", async () => {
  const orders = client.db("idx").collection<{ _id: string }>("orders");
  await orders.insertOne({ _id: "a" });
  const { table } = await rebuilt("orders");
  await client.close();
  await db.stop();
  // Put back the index as FerretDB makes it, and the lookup index earlier versions added.
  const file = new DatabaseSync(join(dataDir, "ferretdb", "idx.sqlite"), { enableDoubleQuotedStringLiterals: true });
  file.exec(`DROP INDEX "${table}__id_"; CREATE UNIQUE INDEX "${table}__id_" ON "${table}" (_ferretdb_sjson->"_id");
    CREATE INDEX "${table}__id_lookup" ON "${table}" (_ferretdb_sjson->'$._id')`);
  file.close();
  expect(
    idIndexes("orders")
      ?.indexes.map((i) => i.name)
      .sort(),
  ).toEqual([`${table}__id_`, `${table}__id_lookup`]);

  db = await startEmbeddedDatabase({ dataDir, cacheDir });
  // No wait: the launcher rebuilds it before FerretDB listens.
  expect(idIndexes("orders")?.indexes).toEqual([{ name: `${table}__id_`, sql: expect.stringContaining("UNIQUE INDEX") }]);
  expect(idIndexes("orders")?.indexes[0]?.sql).toContain("'$._id'");
  client = await new MongoClient(db.uri).connect();
  const again = await client
    .db("idx")
    .collection<{ _id: string }>("orders")
    .insertOne({ _id: "a" })
    .catch((e: unknown) => e);
  expect((again as MongoServerError).code).toBe(11000);
}, 30_000);
