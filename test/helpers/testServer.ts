import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import type { Interceptor } from "@connectrpc/connect";
import { MongoClient, type Db } from "mongodb";
import { createCardDecryptor, type CardDecryptor } from "../../src/crypto/cardDecryptor";
import { generateCardKeyPem, parsePrivateKey } from "../../src/crypto/keyring";
import { createSecretBox } from "../../src/crypto/secretBox";
import type { ShopConfig } from "../../src/payments/shops";
import { returnLinkKey } from "../../src/server/auth/returnLinks";
import { connectorDatabase, createApp, type App, type AppOptions } from "../../src/app/createApp";
import type { SandboxSettings } from "../../src/psp/sandbox/module";
import type { StripeOptions } from "../../src/psp/stripe/connector";
import { defaultLimits, type ConnectionLimits } from "../../src/server/createServer";
import { boundDatabase } from "../../src/store/boundedDb";
import { clientOptions, ensureIndexes, isFerretDB } from "../../src/store/database";
import { listen } from "../../src/server/createServer";
import { createShopRepository } from "../../src/store/shopRepository";

export interface TestServer {
  url: string;
  port: number;
  db: Db;
  app: App;
  cards: CardDecryptor;
  publicKey: string;
  logs: Record<string, unknown>[];
  /** Stores a shop directly (ShopService is tested on its own). */
  addShop(shopId: string, settings?: Partial<ShopConfig>): Promise<void>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  defaultShopId?: string;
  maxBodyBytes?: number;
  pspTimeoutMs?: number;
  sandbox?: SandboxSettings;
  stripe?: StripeOptions;
  /** Where the default shop's callbacks go (a fake Genstore); none when unset. */
  callbackBaseUrl?: string;
  callbacks?: AppOptions["callbacks"];
  reconcile?: AppOptions["reconcile"];
  /** Start the dispatcher and the reconciler (default true). */
  background?: boolean;
  security?: AppOptions["security"];
  production?: boolean;
  returnRefreshMs?: number;
  paymentRetryWindowMs?: number;
  limits?: Partial<ConnectionLimits>;
  /** Merchant onboarding through a (fake) Genstore's OAuth. */
  onboarding?: AppOptions["onboarding"];
  /** Another database than the run's (readiness tests stop and restart their own). */
  mongodbUri?: string;
  /** The service's database bounds (fault tests); the driver's defaults otherwise. */
  databaseTimeoutMs?: number;
  pspBreaker?: AppOptions["pspBreaker"];
}

export const testAdminToken = "test-admin-token-0123456789";

/** A Connect interceptor adding the operators' bearer token. */
export const withAdminToken: Interceptor = (next) => (req) => {
  req.header.set("authorization", `Bearer ${testAdminToken}`);
  return next(req);
};

export const testSecretsKey = randomBytes(32);

/** The real app on port 0 over the run's FerretDB, in a database of its own. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const uri = opts.mongodbUri ?? process.env.TEST_MONGODB_URI;
  if (!uri) throw new Error("TEST_MONGODB_URI is not set: jest's globalSetup starts the database");
  const bounds = opts.databaseTimeoutMs
    ? clientOptions({ timeoutMs: opts.databaseTimeoutMs, unhealthyAfterMs: 30_000, restartWithinMs: 30_000, poolSize: undefined, embeddedSync: "full" })
    : {};
  const client = new MongoClient(uri, { monitorCommands: true, serverSelectionTimeoutMS: 2000, ...bounds });
  await client.connect();
  const db = client.db(`test_${randomBytes(6).toString("hex")}`);
  await ensureIndexes(db);
  const key = parsePrivateKey(generateCardKeyPem(), "test key");
  const cards = createCardDecryptor({ keys: [key], source: "test" }, { fingerprintKey: randomBytes(32) });
  const logs: Record<string, unknown>[] = [];
  const secretBox = createSecretBox(testSecretsKey);
  const defaultShopId = opts.defaultShopId ?? "test-shop";
  const at = new Date();
  const shopDefaults = (shopId: string): ShopConfig => ({
    shopId,
    psp: "sandbox",
    testCredentials: { merchantId: `m-${shopId}-test` },
    liveCredentials: { merchantId: `m-${shopId}-live` },
    genstoreAccessToken: `token-${shopId}`,
    callbackBaseUrl: opts.callbackBaseUrl ?? "http://127.0.0.1:9/genstore-unreachable",
    manualCaptureMeansAuthorizeOnly: true,
    createdAt: at,
    updatedAt: at,
  });
  let url = "";
  const app = createApp({
    db: opts.databaseTimeoutMs ? boundDatabase(db, opts.databaseTimeoutMs) : db,
    atomicConditionalUpdates: !(await isFerretDB(db)),
    cards,
    secretBox,
    returnLinkKey: returnLinkKey(testSecretsKey),
    secretsKey: testSecretsKey,
    onboarding: opts.onboarding,
    defaultShopId,
    defaultShop: shopDefaults(defaultShopId),
    maxBodyBytes: opts.maxBodyBytes ?? 64 * 1024,
    pspTimeoutMs: opts.pspTimeoutMs ?? 8000,
    ...(opts.pspBreaker ? { pspBreaker: opts.pspBreaker } : {}),
    production: opts.production ?? false,
    returnRefreshMs: opts.returnRefreshMs ?? 0,
    ...(opts.paymentRetryWindowMs !== undefined ? { paymentRetryWindowMs: opts.paymentRetryWindowMs } : {}),
    connectorSettings: { sandbox: opts.sandbox ?? { latencyMs: 0, asyncDelayMs: 300 }, ...(opts.stripe ? { stripe: opts.stripe } : {}) },
    callbacks: { pollMs: 5000, backoffBaseMs: 50, backoffMaxMs: 2000, timeoutMs: 2000, ...opts.callbacks },
    reconcile: { intervalMs: 200, minAgeMs: 500, ...opts.reconcile },
    publicUrl: () => url,
    log: (e) => logs.push(e),
    security: { adminToken: testAdminToken, ...opts.security },
  });
  const server = await listen(app.handler, 0, "127.0.0.1", { ...defaultLimits, ...opts.limits });
  url = server.url;
  if (opts.background !== false) app.start();
  const shops = createShopRepository(db, secretBox);
  return {
    url,
    port: server.port,
    db,
    app,
    cards,
    publicKey: key.publicKeySpki,
    logs,
    async addShop(shopId, settings = {}) {
      await shops.create({ ...shopDefaults(shopId), ...settings });
    },
    async stop() {
      await server.close();
      await app.stop();
      await db.dropDatabase().catch(() => {});
      await connectorDatabase(db, "sandbox")
        .dropDatabase()
        .catch(() => {});
      await client.close();
    },
  };
}

/** Counts every document in every collection: "nothing was written" checks. */
export async function countAllDocuments(db: Db): Promise<number> {
  let n = 0;
  for (const c of await db.listCollections().toArray()) n += await db.collection(c.name).countDocuments();
  return n;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function getJson(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A request with any method and body (fetch refuses a GET with a body; Genstore's page shows one). */
export function rawRequest(
  url: string,
  method: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        headers: { ...(body !== undefined ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers });
          } catch (err) {
            reject(new Error(`non-JSON answer ${res.statusCode}: ${text.slice(0, 200)}`, { cause: err }));
          }
        });
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
