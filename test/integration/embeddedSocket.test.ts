import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { MongoClient } from "mongodb";
import { secureDataDir } from "../../src/store/dataDir";
import { SOCKET_PATH_MAX, startEmbeddedDatabase, unixSocketOf } from "../../src/store/embeddedDatabase";

// The embedded FerretDB's Unix socket: its URI for any path a DATA_DIR may have, its length
// limit, and the start-up permission check that must not mistake it for an open file.
const cacheDir = resolve(__dirname, "../../.cache");
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("a DATA_DIR with '@', ':', '+' and a space: the driver reaches the socket the URI names", async () => {
  const dataDir = tempDir("gs@shop1:a+b c-");
  const unix = unixSocketOf(dataDir)!;
  const db = await startEmbeddedDatabase({ dataDir, cacheDir, unix });
  const client = new MongoClient(db.uri, { serverSelectionTimeoutMS: 5000 });
  try {
    expect(db.uri).toBe(`mongodb://${encodeURIComponent(unix).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}/`);
    await client
      .db("s")
      .collection("t")
      .insertOne({ _id: "x" } as never);
    expect(await client.db("s").collection("t").countDocuments()).toBe(1);
    expect(lstatSync(unix).isSocket()).toBe(true);
  } finally {
    await client.close();
    await db.stop();
  }
}, 120_000);

test("the socket's path is bounded: a DATA_DIR too long for it gets none", () => {
  const base = "/tmp/";
  const room = SOCKET_PATH_MAX - Buffer.byteLength(`${base}/ferretdb/ferretdb.sock`);
  expect(unixSocketOf(base + "d".repeat(room))).toHaveLength(SOCKET_PATH_MAX);
  expect(unixSocketOf(base + "d".repeat(room + 1))).toBeUndefined();
});

test("start-up's permission check leaves a socket closed to others alone and closes an open one", async () => {
  const dataDir = tempDir("gs-perm-");
  mkdirSync(join(dataDir, "ferretdb"), { mode: 0o700 });
  const path = join(dataDir, "ferretdb", "ferretdb.sock");
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  try {
    chmodSync(path, 0o700);
    expect(secureDataDir(dataDir)).toEqual([]);
    chmodSync(path, 0o755);
    expect(secureDataDir(dataDir)).toEqual([path]);
    expect(lstatSync(path).mode & 0o077).toBe(0);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test("start-up's permission check makes private the folder a symlinked DATA_DIR names", () => {
  const real = tempDir("gs-real-");
  mkdirSync(join(real, "ferretdb"));
  chmodSync(real, 0o755);
  chmodSync(join(real, "ferretdb"), 0o755);
  const link = join(tempDir("gs-link-"), "data");
  symlinkSync(real, link);
  expect(secureDataDir(link)).toEqual([real, join(real, "ferretdb")]);
  expect(statSync(real).mode & 0o777).toBe(0o700);
  expect(statSync(join(real, "ferretdb")).mode & 0o777).toBe(0o700);
});
