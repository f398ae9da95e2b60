import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type Config } from "./config.js";
import { createCardDecryptor } from "./crypto/cardDecryptor.js";
import { loadKeyring, type Keyring } from "./crypto/keyring.js";
import { createSecretBox } from "./crypto/secretBox.js";
import { loadSecretKey } from "./crypto/secretKeys.js";
import { defaultCallbackBase, type ShopConfig } from "./payments/shops.js";
import { returnLinkKey } from "./server/auth/returnLinks.js";
import { createApp } from "./app/createApp.js";
import { runAsProcess } from "./app/runProcess.js";
import { listenFailure } from "./app/startupFailure.js";
import { listen } from "./server/createServer.js";
import { createJsonLogger, type Logger } from "./observability/logger.js";
import { openDatabase } from "./store/database.js";
import { secureDataDir } from "./store/dataDir.js";
import { acquireDataDirLock, type DataDirLock } from "./store/dataDirLock.js";

/**
 * Starts the service; resolves once it listens. Exported for tests that run it in-process.
 * Aborting `signal` stops a start under way; whatever it had started is stopped again.
 */
export async function main(
  env: Record<string, string | undefined> = process.env,
  signal?: AbortSignal,
  exit: (code: number) => void = (code) => process.exit(code),
) {
  const config = loadConfig(env);
  const log = createJsonLogger(process.stdout, config.logLevel, { instance: config.scaleOut.instanceId });
  const undo: (() => Promise<void> | void)[] = [];
  try {
    const lock = await prepareDataDir(config, log);
    if (lock) undo.push(() => lock.release());
    const keyring = loadKeyring({ env, dataDir: config.dataDir, production: config.production });
    const fingerprintKey = loadSecretKey("CARD_FINGERPRINT_KEY", env.CARD_FINGERPRINT_KEY, config.dataDir, "card-fingerprint.key", config.production);
    const secretsKey = loadSecretKey("SECRETS_KEY", env.SECRETS_KEY, config.dataDir, "secrets.key", config.production);
    const service: { stop?: () => Promise<void> } = {};
    // The embedded database did not come back: only a restart of the whole service can help.
    const onFatal = (err: Error) => {
      log({ level: "error", msg: "the database cannot be recovered; exiting so the service's supervisor restarts it", error: err.message });
      void (service.stop?.() ?? Promise.resolve()).finally(() => exit(1));
    };
    const db = await openDatabase({ ...config, embeddedPort: config.scaleOut.embeddedDatabasePort }, log, onFatal, signal);
    undo.unshift(() => db.close());
    signal?.throwIfAborted();
    let publicUrl = config.publicUrl ?? "";
    const app = createApp({
      db: db.db,
      atomicConditionalUpdates: db.atomicConditionalUpdates,
      cards: createCardDecryptor(keyring, { fingerprintKey: fingerprintKey.key, info: config.cardHkdfInfo }),
      secretBox: createSecretBox(secretsKey.key),
      returnLinkKey: returnLinkKey(secretsKey.key),
      secretsKey: secretsKey.key,
      ...settingsOf(config),
      publicUrl: () => publicUrl,
      log,
    });
    const server = await listen(app.handler, config.port, config.host, config.server).catch((err: unknown) => {
      throw listenFailure(err, config.port, config.host);
    });
    publicUrl ||= server.url;
    lock?.update({ url: server.url });
    app.start();
    const where = {
      url: server.url,
      publicUrl,
      database: db.description,
      databasePid: db.embedded?.pid,
      atomicConditionalUpdates: db.atomicConditionalUpdates,
      sharedDatabase: config.scaleOut.sharedDatabase,
    };
    logStartup(log, config, where, { keyring, fingerprintKey, secretsKey });
    /**
     * Stops accepting, lets requests in flight and the dispatcher's work under way finish
     * (together up to SHUTDOWN_TIMEOUT_MS), then closes the database and stops FerretDB.
     */
    const stop = async () => {
      const deadline = Date.now() + config.shutdownTimeoutMs;
      const until = (work: Promise<unknown>) => Promise.race([work, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
      await until(server.close());
      await until(app.stop());
      try {
        await db.close();
      } finally {
        lock?.release();
      }
    };
    service.stop = stop;
    return {
      url: server.url,
      port: server.port,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      /** The embedded database's process, when we run one (for operators and fault tests). */
      databasePid: () => db.embedded?.pid,
      stop,
    };
  } catch (err) {
    for (const step of undo) await Promise.resolve(step()).catch(() => {});
    throw err;
  }
}

/**
 * DATA_DIR holds payments, shops and development keys: this user's only, and with the embedded
 * database, one instance's only (a lock file says which).
 */
async function prepareDataDir(config: Config, log: Logger): Promise<DataDirLock | undefined> {
  const embedded = !config.mongodbUri;
  if (!embedded && config.production && !existsSync(config.dataDir)) return undefined;
  const tightened = secureDataDir(config.dataDir);
  if (tightened.length)
    log({ level: "warn", msg: "DATA_DIR was readable by other users; permissions tightened to 0700/0600", dataDir: config.dataDir, paths: tightened.length });
  return embedded ? acquireDataDirLock(config.dataDir) : undefined;
}

/** createApp's settings that come straight from the configuration. */
function settingsOf(config: Config) {
  return {
    onboarding: config.onboarding,
    instanceId: config.scaleOut.instanceId,
    scaleOut: config.scaleOut.sharedDatabase ? { leaseTtlMs: config.scaleOut.leaseTtlMs } : undefined,
    // Instances sharing a database share everything: nothing a connector keeps may be local.
    connectorFiles: config.scaleOut.sharedDatabase ? undefined : { dir: join(config.dataDir, "psp"), embeddedDatabase: !config.mongodbUri },
    defaultShopId: config.defaultShopId,
    defaultShop: defaultShopOf(config),
    maxBodyBytes: config.maxBodyBytes,
    production: config.production,
    returnRefreshMs: config.returnRefreshMs,
    paymentRetryWindowMs: config.paymentRetryWindowMs,
    pspTimeoutMs: config.pspTimeoutMs,
    pspBreaker: config.pspBreaker,
    databaseUnhealthyAfterMs: config.database.unhealthyAfterMs,
    connectorSettings: config.connectors,
    callbacks: config.callbacks,
    reconcile: config.reconcile,
    security: config.security,
  };
}

/** The default shop from the environment (single-merchant deployments), unless switched off. */
function defaultShopOf(config: Config): ShopConfig | undefined {
  if (!config.defaultShop.enabled) return undefined;
  const at = new Date();
  const { enabled: _enabled, ...shop } = config.defaultShop;
  return {
    shopId: config.defaultShopId,
    ...shop,
    callbackBaseUrl: shop.callbackBaseUrl ?? defaultCallbackBase(config.defaultShopId),
    createdAt: at,
    updatedAt: at,
  };
}

/** What an operator needs to see at start-up: where it listens, its database, keys, security. */
function logStartup(
  log: Logger,
  config: Config,
  where: { url: string; publicUrl: string; database: string; databasePid: number | undefined; atomicConditionalUpdates: boolean; sharedDatabase: boolean },
  keys: { keyring: Keyring; fingerprintKey: { source: string }; secretsKey: { source: string } },
): void {
  const { url, publicUrl, database, databasePid, atomicConditionalUpdates, sharedDatabase } = where;
  const { keyring, fingerprintKey, secretsKey } = keys;

  log({
    level: "info",
    msg: "listening",
    url,
    publicUrl,
    database,
    databasePid,
    atomicConditionalUpdates,
    sharedDatabase,
    instance: config.scaleOut.instanceId,
    defaultShop: config.defaultShopId,
    defaultShopPsp: config.defaultShop.psp,
  });
  // A FerretDB we did not start is another instance's (or a standalone one): its updates read
  // then write, so sharing it is only safe with leases on every instance.
  if (config.mongodbUri && !atomicConditionalUpdates && !sharedDatabase)
    log({
      level: "warn",
      msg: "MONGODB_URI is a FerretDB: if any other instance uses this database, set SHARED_DATABASE=true on every instance (README: Scaling out)",
    });
  log({ level: "info", msg: "secret keys", cardFingerprintKey: fingerprintKey.source, secretsKey: secretsKey.source });
  log({
    level: config.security.requireSignature ? "info" : "warn",
    msg: config.security.requireSignature
      ? "Genstore request signatures are required"
      : "Genstore request signatures are checked when present but not required (REQUIRE_GENSTORE_SIGNATURE=false)",
    clientSecretConfigured: Boolean(config.security.genstoreClientSecret),
    internalServices: config.security.adminToken ? "enabled (bearer token)" : "disabled: set ADMIN_TOKEN",
  });
  log({
    level: "info",
    msg: "card encryption public key (register it with Genstore)",
    keySource: keyring.source,
    publicKey: keyring.keys[0]?.publicKeySpki,
    activeKeys: keyring.keys.length,
    servedAt: `${url}/genstore/v1/card-encryption-key`,
  });
}

if (require.main === module) runAsProcess((signal) => main(process.env, signal));
