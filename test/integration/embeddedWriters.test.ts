import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { promisify } from "node:util";
import { MongoClient } from "mongodb";
import { ferretdbSourceDir, goBuildEnv, goBuildFlags } from "../../src/store/ferretdbBuild";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../src/store/embeddedDatabase";

// SQLite has one writer per file; a writer that finds the lock taken waits in the busy handler
// the launcher installs (src/store/ferretdb/busywait.go), which retries when a commit releases
// the lock or after a 250 µs timer, where SQLite's own sleeps 1, 2, 5 … 100 ms between tries.
const cacheDir = resolve(__dirname, "../../.cache");
let dataDir: string;
let db: EmbeddedDatabase;
let client: MongoClient;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "genstore-writers-"));
  db = await startEmbeddedDatabase({ dataDir, cacheDir });
  client = await new MongoClient(db.uri).connect();
});

afterAll(async () => {
  await client.close();
  await db.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test("a write that met a held lock goes as soon as the lock is released, not at SQLite's next retry", async () => {
  const things = client.db("writers").collection<{ _id: string }>("things");
  await things.insertOne({ _id: "first" }); // the file and table exist
  const file = new DatabaseSync(join(dataDir, "ferretdb", "writers.sqlite"));
  try {
    file.exec("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE");
    let settled = false;
    const inserted = things.insertOne({ _id: "second" }).then(() => {
      settled = true;
      return performance.now();
    });
    // Held past 228 ms of waiting, where SQLite's own handler sleeps 100 ms to its next try (at
    // 328 ms): a writer on that schedule would go about 90 ms after the release below.
    await new Promise((r) => setTimeout(r, 240));
    expect(settled).toBe(false); // it is waiting for the lock
    file.exec("COMMIT");
    const released = performance.now();
    const done = await inserted;
    // The retry within a timer's 250 µs (about 1 ms idle), then FerretDB's insert, commit and answer.
    expect(done - released).toBeLessThan(40);
  } finally {
    file.close();
  }
  expect(await things.countDocuments()).toBe(2);
});

test("the launcher's Go tests pass: a writer goes when another commits, gives up after its timeout, the WAL is still checkpointed, a stale socket is cleared", async () => {
  // The launcher build's flags and environment, so that Go reuses what it compiled.
  const { stdout } = await promisify(execFile)("go", ["test", ...goBuildFlags, "-count=1", "./..."], {
    cwd: ferretdbSourceDir,
    env: goBuildEnv(),
    timeout: 240_000,
  }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    // Which Go test failed, and why: execFile's message names only the command.
    throw new Error(`${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  });
  expect(stdout).toMatch(/^ok\s/m);
}, 300_000);
