import { MongoClient, type Db, type MongoClientOptions } from "mongodb";
import type { Logger } from "../observability/logger.js";
import { boundDatabase } from "./boundedDb.js";
import { startSupervisedDatabase, type SupervisedDatabase } from "./ferretdbSupervisor.js";
import { EmbeddedDatabaseError, SOCKET_IN_DATA_DIR, SOCKET_PATH_MAX, unixSocketOf } from "./embeddedDatabase.js";

/** How the service meets a database that is slow, gone or restarting (config.ts reads them). */
export interface DatabaseSettings {
  /** One database call's bound (connect, server selection, socket): past it the request is answered 503. */
  timeoutMs: number;
  /** /healthz turns 503 once the database has been unreachable this long (the service cannot serve). */
  unhealthyAfterMs: number;
  /** The embedded FerretDB must be back within this after it dies, or the service exits non-zero. */
  restartWithinMs: number;
  /**
   * Commands in flight at once per server; more wait in the driver's queue (within timeoutMs).
   * Unset: 2 on FerretDB (FERRETDB_POOL_SIZE), the driver's 100 on MongoDB.
   */
  poolSize: number | undefined;
  /** The embedded FerretDB's SQLite synchronous setting (see README, Performance). */
  embeddedSync: "full" | "normal";
}

export class DatabaseError extends Error {
  override name = "DatabaseError";
}

export interface Database {
  client: MongoClient;
  db: Db;
  /** Set when we started FerretDB ourselves. */
  embedded: SupervisedDatabase | undefined;
  /** Where we connected, without credentials, for logs. */
  description: string;
  /** false on FerretDB: conditional updates there are read-then-write (decisions.md D11). */
  atomicConditionalUpdates: boolean;
  close(): Promise<void>;
}

function redact(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, "//***@");
}

/**
 * The driver's bounds: a database that is gone, stalled or failing over costs a request at most
 * about `timeoutMs` per call, answered 503 (never a 500 after 10 s). Retryable reads and writes
 * ride out a replica set's failover; a standalone server (FerretDB) ignores them.
 */
export function clientOptions(settings: DatabaseSettings): MongoClientOptions {
  return {
    appName: "genstore-payment-app",
    serverSelectionTimeoutMS: settings.timeoutMs,
    connectTimeoutMS: settings.timeoutMs,
    socketTimeoutMS: settings.timeoutMs,
    // A command the service gave up on (its bound passed) must not run later, after the
    // payment's lock has gone to the next request: one still queued for a connection fails.
    waitQueueTimeoutMS: settings.timeoutMs,
    ...(settings.poolSize ? { maxPoolSize: settings.poolSize } : {}),
    retryReads: true,
    retryWrites: true,
    // For the db_commands_total metrics (observability/databaseCommands.ts).
    monitorCommands: true,
  };
}

/**
 * The Unix socket in the data directory. A path too long for a socket address is refused rather
 * than served on a loopback port, which every local user could reach without a password.
 */
function embeddedSocket(dataDir: string): { unix: string } {
  const unix = unixSocketOf(dataDir);
  if (unix) return { unix };
  throw new EmbeddedDatabaseError(
    `DATA_DIR ${dataDir} is too long for the embedded database's socket (${SOCKET_PATH_MAX} bytes at most with ${SOCKET_IN_DATA_DIR}): choose a shorter DATA_DIR, or set EMBEDDED_DATABASE_PORT to listen on a loopback port, which any local user can reach`,
  );
}

/**
 * Connects to MONGODB_URI, or starts the embedded FerretDB when it is unset (decisions.md D12),
 * supervised: restarted when it dies, `onFatal` when it cannot come back.
 */
export async function openDatabase(
  config: { mongodbUri: string | undefined; databaseName: string; dataDir: string; cacheDir: string; database: DatabaseSettings; embeddedPort?: number },
  log: Logger,
  onFatal: (err: Error) => void,
  signal?: AbortSignal,
): Promise<Database> {
  let embedded: SupervisedDatabase | undefined;
  let uri = config.mongodbUri;
  if (uri === undefined) {
    embedded = await startSupervisedDatabase(
      {
        dataDir: config.dataDir,
        cacheDir: config.cacheDir,
        log,
        sync: config.database.embeddedSync,
        // A fixed port is for other instances to connect to (README "Scaling out"); otherwise
        // only this service does, through a socket in its data directory.
        ...(config.embeddedPort ? { listen: `127.0.0.1:${config.embeddedPort}` } : embeddedSocket(config.dataDir)),
        ...(signal ? { signal } : {}),
      },
      {
        restartWithinMs: config.database.restartWithinMs,
        onExit: (detail) => log({ level: "error", msg: "embedded database exited", detail }),
        onRestart: (detail) => log({ level: "info", msg: "embedded database restarted", detail }),
        onGiveUp: onFatal,
      },
    );
    uri = embedded.uri;
  }
  let client: MongoClient;
  try {
    client = await connect(uri, config.databaseName, config.database);
    // FerretDB has one SQLite writer per database; writers past it wait in SQLite's busy handler,
    // which sleeps and polls (1, 2, 5 ... 100 ms), so latecomers overtake and tails grow. Two
    // commands at once keep both cores busy; the driver queues the rest in order (README,
    // Performance: p99 at c=16 821 -> 221 ms, same throughput).
    if (config.database.poolSize === undefined && (await isFerretDB(client.db(config.databaseName)))) {
      await client.close();
      client = await connect(uri, config.databaseName, { ...config.database, poolSize: FERRETDB_POOL_SIZE });
    }
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  const unbounded = client.db(config.databaseName);
  // Index builds at start-up may take long on a big collection; requests get the bounded handle.
  await ensureIndexes(unbounded, (name, collection) =>
    log({ level: "info", msg: "dropped an index FerretDB would only pay to keep", index: name, collection }),
  );
  const atomicConditionalUpdates = !(await isFerretDB(unbounded));
  const db = boundDatabase(unbounded, config.database.timeoutMs);
  return {
    client,
    db,
    embedded,
    atomicConditionalUpdates,
    description: embedded ? `embedded FerretDB at ${uri} (data in ${config.dataDir}/ferretdb)` : redact(uri),
    async close() {
      // A hung database must not hold the stop: the driver's goodbye (endSessions) gets a second,
      // then the embedded FerretDB is stopped (killed 2 s after SIGTERM if it does not go).
      const closing = client.close().catch(() => {});
      await (embedded ? Promise.race([closing, new Promise((r) => setTimeout(r, CLIENT_CLOSE_MS).unref())]) : closing);
      await embedded?.stop();
    },
  };
}

/** Commands in flight at once on FerretDB unless DATABASE_POOL_SIZE says otherwise. */
export const FERRETDB_POOL_SIZE = 2;
const CLIENT_CLOSE_MS = 1000;

/** A client that has had its first answer from the database. */
async function connect(uri: string, databaseName: string, settings: DatabaseSettings): Promise<MongoClient> {
  let client: MongoClient;
  try {
    client = new MongoClient(uri, clientOptions(settings));
  } catch (err) {
    throw new DatabaseError(`MONGODB_URI is not a MongoDB connection string (${(err as Error).message}): fix it, or unset it for the embedded database`);
  }
  try {
    await firstPing(client, databaseName);
    return client;
  } catch (err) {
    await client.close().catch(() => {});
    throw new DatabaseError(`cannot reach MongoDB at ${redact(uri)}: ${(err as Error).message}`);
  }
}

/** The first answer may take longer than a request's bound (a cold server): a few tries, 10 s in all. */
async function firstPing(client: MongoClient, databaseName: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.db(databaseName).command({ ping: 1 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** FerretDB says so in buildInfo (ferretdbVersion, ferretdbFeatures); MongoDB does not. */
export async function isFerretDB(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return Object.keys(info).some((k) => k.toLowerCase().startsWith("ferretdb"));
}

/** The secondary indexes on MongoDB: listings and the background scans. */
const SECONDARY_INDEXES: [collection: string, keys: Record<string, 1 | -1>][] = [
  ["payments", { shopId: 1, createdAt: -1 }],
  ["payments", { nextCallbackAt: 1 }],
  ["payments", { state: 1, updatedAt: 1 }],
  ...["captures", "voids", "refunds"].flatMap((name): [string, Record<string, 1 | -1>][] => [
    [name, { paymentId: 1 }],
    [name, { state: 1, updatedAt: 1 }],
  ]),
  // Operators' listings (src/store/paymentListing.ts), newest first.
  ["payments", { createdAt: -1, shopId: -1, genstoreId: -1 }],
  ["payments", { shopId: 1, createdAt: -1, genstoreId: -1 }],
  ["payments", { state: 1, createdAt: -1, shopId: -1, genstoreId: -1 }],
  ["payments", { genstoreId: 1 }],
];

/** MongoDB's name for an index on these keys ("shopId_1_createdAt_-1"). */
const indexName = (keys: Record<string, 1 | -1>) =>
  Object.entries(keys)
    .map(([k, v]) => `${k}_${v}`)
    .join("_");

const codeOf = (err: unknown) => (err as { code?: unknown } | null)?.code;

/**
 * MongoDB gets every secondary index. FerretDB 1.24 answers only `_id` filters from an index, yet
 * keeps every index it is given: each one is an SQLite expression index that parses the whole
 * document on every insert and update (README, Performance). There the scans read every document
 * either way (or the in-memory payment index), so it gets none, and the ones an older version of
 * this service made are dropped (an operator's own indexes are left alone). Any FerretDB is taken
 * for the 1.x one, as elsewhere (atomicConditionalUpdates).
 */
export async function ensureIndexes(db: Db, dropped: (name: string, collection: string) => void = () => {}): Promise<void> {
  if (!(await isFerretDB(db))) {
    for (const [name, keys] of SECONDARY_INDEXES) await db.collection(name).createIndex(keys);
    return;
  }
  for (const name of new Set(SECONDARY_INDEXES.map(([n]) => n))) {
    const ours = new Set(SECONDARY_INDEXES.filter(([n]) => n === name).map(([, keys]) => indexName(keys)));
    const existing = await db
      .collection(name)
      .indexes()
      .catch((err: unknown) => {
        if (codeOf(err) === 26) return []; // NamespaceNotFound: no such collection yet
        throw err;
      });
    for (const index of existing) {
      if (!index.name || !ours.has(index.name)) continue;
      try {
        await db.collection(name).dropIndex(index.name);
        dropped(index.name, name);
      } catch (err) {
        // IndexNotFound: another instance starting beside this one dropped it first.
        if (codeOf(err) !== 27) throw err;
      }
    }
  }
}
