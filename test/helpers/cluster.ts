import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient, type Db } from "mongodb";
import { cardBody, genstoreClient } from "./payments";
import { freePort, startServiceProcess, type ServiceProcess } from "./serviceProcess";
import type { TestServer } from "./testServer";

/**
 * Service processes sharing one database (README "Scaling out"): the first owns the embedded
 * FerretDB (its own DATA_DIR, a fixed port), the others connect to it with MONGODB_URI, each with
 * its own DATA_DIR; all have the same keys and SHARED_DATABASE=true.
 */
export interface Cluster {
  uri: string;
  db: Db;
  env: Record<string, string>;
  instances: (ServiceProcess | undefined)[];
  /** A stand-in TestServer for the payment helpers (cardBody, genstoreClient, ledger) on instance i. */
  server(i: number): TestServer;
  client(i: number): ReturnType<typeof genstoreClient>;
  card(paymentId: string, opts?: Parameters<typeof cardBody>[2]): Record<string, unknown>;
  /** Starts instance i (1 or more: a client of the first's database) with extra settings. */
  start(i: number, extra?: Record<string, string>): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export async function startCluster(size: number, env: Record<string, string>, own: (i: number) => Record<string, string> = () => ({})): Promise<Cluster> {
  const dirs = Array.from({ length: size }, () => mkdtempSync(join(tmpdir(), "genstore-scale-")));
  const port = await freePort();
  const uri = `mongodb://127.0.0.1:${port}/`;
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const shared = {
    MONGODB_DATABASE: `scale_${randomBytes(4).toString("hex")}`,
    SHARED_DATABASE: "true",
    CARD_PRIVATE_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    CARD_FINGERPRINT_KEY: randomBytes(32).toString("base64"),
    SECRETS_KEY: randomBytes(32).toString("base64"),
    SANDBOX_WEBHOOK_SECRET: randomBytes(16).toString("hex"),
    SHUTDOWN_TIMEOUT_MS: "2000",
    ...env,
  };
  const instances: (ServiceProcess | undefined)[] = [];
  const start = async (i: number, extra: Record<string, string> = {}) => {
    const where: Record<string, string> = i === 0 ? { EMBEDDED_DATABASE_PORT: String(port) } : { MONGODB_URI: uri };
    const s = await startServiceProcess({ ...shared, ...where, DATA_DIR: dirs[i]!, INSTANCE_ID: `i${i + 1}`, ...own(i), ...extra });
    instances[i] = s;
    return s;
  };
  await start(0);
  await Promise.all(Array.from({ length: size - 1 }, (_, i) => start(i + 1)));
  const mongo = new MongoClient(uri);
  await mongo.connect();
  const db = mongo.db(shared.MONGODB_DATABASE);
  const publicKey = ((await (await fetch(`${instances[0]!.url}/genstore/v1/card-encryption-key`)).json()) as { publicKey: string }).publicKey;
  const server = (i: number) => ({ url: instances[i]!.url, publicKey, db }) as unknown as TestServer;
  return {
    uri,
    db,
    env: shared,
    instances,
    server,
    client: (i) => genstoreClient(server(i)),
    card: (paymentId, opts) => cardBody(server(0), paymentId, opts),
    start,
    async stop() {
      await mongo.close();
      // The database's owner last: the others stop while it still answers.
      for (const s of [...instances.slice(1), instances[0]]) {
        if (!s || s.child.exitCode !== null || s.child.signalCode !== null) continue;
        s.child.kill("SIGTERM");
        await s.exited;
      }
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
