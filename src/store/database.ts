import { MongoClient, type Db } from "mongodb";
import type { Config } from "../config.js";
import type { Logger } from "../observability/logger.js";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "./embeddedDatabase.js";

export class DatabaseError extends Error {
  override name = "DatabaseError";
}

export interface Database {
  client: MongoClient;
  db: Db;
  /** Set when we started FerretDB ourselves. */
  embedded: EmbeddedDatabase | undefined;
  /** Where we connected, without credentials, for logs. */
  description: string;
  /** false on FerretDB: conditional updates there are read-then-write (design §4). */
  atomicConditionalUpdates: boolean;
  close(): Promise<void>;
}

function redact(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, "//***@");
}

/** Connects to MONGODB_URI, or starts the embedded FerretDB when it is unset (design §5). */
export async function openDatabase(
  config: Pick<Config, "mongodbUri" | "databaseName" | "dataDir" | "cacheDir">,
  log: Logger = () => {},
  signal?: AbortSignal,
): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let uri = config.mongodbUri;
  if (uri === undefined) {
    embedded = await startEmbeddedDatabase({ dataDir: config.dataDir, cacheDir: config.cacheDir, log, ...(signal ? { signal } : {}) });
    uri = embedded.uri;
  }
  let client: MongoClient;
  try {
    client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000, appName: "genstore-payment-app" });
  } catch (err) {
    throw new DatabaseError(`MONGODB_URI is not a MongoDB connection string (${(err as Error).message}): fix it, or unset it for the embedded database`);
  }
  try {
    await client.connect();
    await client.db(config.databaseName).command({ ping: 1 });
  } catch (err) {
    await client.close().catch(() => {});
    await embedded?.stop();
    throw new DatabaseError(`cannot reach MongoDB at ${redact(uri)}: ${(err as Error).message}`);
  }
  const db = client.db(config.databaseName);
  await ensureIndexes(db);
  const atomicConditionalUpdates = !(await isFerretDB(db));
  return {
    client,
    db,
    embedded,
    atomicConditionalUpdates,
    description: embedded ? `embedded FerretDB at ${uri} (data in ${config.dataDir}/ferretdb)` : redact(uri),
    async close() {
      await client.close();
      await embedded?.stop();
    },
  };
}

/** FerretDB says so in buildInfo (ferretdbVersion, ferretdbFeatures); MongoDB does not. */
export async function isFerretDB(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return Object.keys(info).some((k) => k.toLowerCase().startsWith("ferretdb"));
}

export async function ensureIndexes(db: Db): Promise<void> {
  const payments = db.collection("payments");
  await payments.createIndex({ shopId: 1, createdAt: -1 });
  await payments.createIndex({ nextCallbackAt: 1 });
  await payments.createIndex({ state: 1, updatedAt: 1 });
  for (const name of ["captures", "voids", "refunds"]) {
    await db.collection(name).createIndex({ paymentId: 1 });
    await db.collection(name).createIndex({ state: 1, updatedAt: 1 });
  }
}
