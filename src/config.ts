import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { bool, ConfigError, credentials, hostList, integer, oneOf, scaleOutSettings, url, type Env } from "./configValues.js";

export { ConfigError };
import { resolve } from "node:path";
import { shopPattern } from "./payments/shops.js";
import { connectorModule, connectorModules } from "./psp/modules.js";
import { parseInternalTokens, type InternalToken } from "./server/auth/internalTokens.js";
import type { DatabaseSettings } from "./store/database.js";
import { onboardingSettings, type OnboardingSettings } from "./onboardingConfig.js";

/** The service's whole configuration, read and checked once at start-up. */
export interface Config {
  /** TCP port for HTTP/1.1 and HTTP/2 cleartext. 0 picks a free port. */
  port: number;
  host: string;
  /** Base URL the service is reached at, for URLs we hand out (hosted pages). */
  publicUrl: string | undefined;
  /** MongoDB to use; when unset the embedded FerretDB is started. */
  mongodbUri: string | undefined;
  databaseName: string;
  /** Where the embedded database and generated dev keys live. */
  dataDir: string;
  /** Where the embedded FerretDB binary is built once and kept. */
  cacheDir: string;
  /** How the service meets a database that is slow, gone or restarting. */
  database: DatabaseSettings;
  /** This instance's id, whether others share its database, their leases' life, FerretDB's port. */
  scaleOut: ReturnType<typeof scaleOutSettings>;
  /** Shop used when a request names none (single-merchant deployments). */
  defaultShopId: string;
  /** Largest request body accepted, on every protocol (after decompression on Connect and gRPC). */
  maxBodyBytes: number;
  /** NODE_ENV=production: the service fails closed (signatures, real PSPs, https redirects). */
  production: boolean;
  /** Connection limits of the one port. */
  server: ServerLimits;
  /** The PSP is asked about a payment at most once per this interval from the return endpoint. */
  returnRefreshMs: number;
  /** A payment claimed but never sent (a crash) waits this long for Genstore's retry before it is declined. */
  paymentRetryWindowMs: number;
  /** How long a request waits for the PSP before answering PROCESSING (decisions.md D3). */
  pspTimeoutMs: number;
  /** Unreachable answers in a row that open a shop's PSP circuit, and how long it stays open. */
  pspBreaker: { failures: number; openMs: number };
  /** Each connector module's own settings, by connector name (see src/psp/modules.ts). */
  connectors: Record<string, unknown>;
  callbacks: {
    pollMs: number;
    timeoutMs: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    retryWindowMs: number;
    rateLimit: { capacity: number; perSecond: number };
  };
  reconcile: { intervalMs: number; minAgeMs: number; actionExpiryMs: number };
  security: {
    /** The Genstore app's client secret (shops may override it). */
    genstoreClientSecret: string | undefined;
    /** Refuse unsigned Genstore requests (default in production). */
    requireSignature: boolean;
    /** Bearer token of the internal ShopService and OperationsService. */
    adminToken: string | undefined;
    /** Internal services' tokens for PaymentService, each limited to shops and to read or write. */
    internalTokens: InternalToken[];
    /** Requests per second (and twice that in a burst) per client IP and per shop. */
    rateLimitPerIp: number;
    rateLimitPerShop: number;
  };
  /** Merchant onboarding (App URL, OAuth, authorization page); off unless GENSTORE_CLIENT_ID is set. */
  onboarding: OnboardingSettings | undefined;
  logLevel: "debug" | "info" | "warn" | "error";
  /** HKDF info for card decryption; Genstore has not published one (decisions.md D9). */
  cardHkdfInfo: Buffer;
  shutdownTimeoutMs: number;
  /** The default shop's settings, for single-merchant deployments (decisions.md D8). */
  defaultShop: {
    /** false: no default shop (DEFAULT_SHOP_PSP=none); every request names a stored shop. */
    enabled: boolean;
    psp: string;
    testCredentials: Record<string, string>;
    liveCredentials: Record<string, string>;
    genstoreAccessToken: string | undefined;
    callbackBaseUrl: string | undefined;
    manualCaptureMeansAuthorizeOnly: boolean;
    redirectHosts: string[];
  };
}

/** The one port's connection limits (createServer.ts applies them). */
export interface ServerLimits {
  /** A connection must send a complete request head within this (slow or silent clients). */
  headersTimeoutMs: number;
  /** A whole HTTP/1.1 request, body included, within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive HTTP/1.1 connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** An HTTP/2 connection (gRPC, Connect) with no frames for this long is closed. */
  http2IdleTimeoutMs: number;
  /** Open connections at most; more are refused at once. */
  maxConnections: number;
}

/** The default shop's PSP and credentials, refused at start-up when they cannot work. */
function defaultShopPsp(
  env: Env,
  production: boolean,
): { enabled: boolean; psp: string; testCredentials: Record<string, string>; liveCredentials: Record<string, string> } {
  const psp = env.DEFAULT_SHOP_PSP || "sandbox";
  const names = connectorModules.map((m) => m.name);
  if (psp === "none") return { enabled: false, psp, testCredentials: {}, liveCredentials: {} };
  const module = connectorModule(psp);
  if (!module) throw new ConfigError(`DEFAULT_SHOP_PSP must be ${names.join(", ")} or none, got "${psp}"`);
  // A PSP that moves no money would answer a live payment without taking one.
  if (production && !module.movesMoney) {
    const real = connectorModules.filter((m) => m.movesMoney).map((m) => m.name);
    throw new ConfigError(
      `in production the default shop cannot use the ${psp} PSP, which moves no money: set DEFAULT_SHOP_PSP=${real.join(" or ")} (with its credentials) or DEFAULT_SHOP_PSP=none`,
    );
  }
  const testCredentials = credentials(env, "DEFAULT_SHOP_PSP_TEST_CREDENTIALS");
  const liveCredentials = credentials(env, "DEFAULT_SHOP_PSP_LIVE_CREDENTIALS");
  const problems = [...module.credentialProblems("test", testCredentials), ...module.credentialProblems("live", liveCredentials)];
  if (problems.length) throw new ConfigError(`DEFAULT_SHOP_PSP_*_CREDENTIALS for ${psp}: ${problems.join("; ")}`);
  return { enabled: true, psp, testCredentials, liveCredentials };
}

function connectorSettings(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of connectorModules) {
    try {
      out[m.name] = m.settings(env);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  return out;
}

/** NODE_ENV: production, or development (unset, development, test); anything else is a mistake. */
function isProduction(env: Env): boolean {
  const v = (env.NODE_ENV ?? "").trim().toLowerCase();
  if (v === "production") return true;
  if (v === "" || v === "development" || v === "test") return false;
  throw new ConfigError(`NODE_ENV must be production, development or test, got "${env.NODE_ENV}": an unknown value would run without production's safeguards`);
}

function internalTokens(env: Env): InternalToken[] {
  let raw = env.INTERNAL_TOKENS;
  let name = "INTERNAL_TOKENS";
  if (env.INTERNAL_TOKENS_FILE) {
    name = "INTERNAL_TOKENS_FILE";
    try {
      raw = readFileSync(env.INTERNAL_TOKENS_FILE, "utf8");
    } catch (err) {
      throw new ConfigError(`INTERNAL_TOKENS_FILE cannot be read: ${(err as Error).message}`);
    }
  }
  if (raw === undefined || raw.trim() === "") return [];
  const parsed = parseInternalTokens(raw, shopPattern);
  if (typeof parsed === "string") throw new ConfigError(`${name} ${parsed}`);
  return parsed;
}

/** Signatures: required in production and wherever a client secret is set; never off in production. */
function signatureSettings(env: Env, production: boolean): { genstoreClientSecret: string | undefined; requireSignature: boolean } {
  const genstoreClientSecret = env.GENSTORE_CLIENT_SECRET || undefined;
  const requireSignature = bool(env, "REQUIRE_GENSTORE_SIGNATURE", production || genstoreClientSecret !== undefined);
  if (production && !requireSignature) throw new ConfigError("REQUIRE_GENSTORE_SIGNATURE=false is refused in production: unsigned requests could move money");
  if (production && !genstoreClientSecret)
    throw new ConfigError("GENSTORE_CLIENT_SECRET is required in production: Genstore's request signatures are checked with it");
  return { genstoreClientSecret, requireSignature };
}

function adminToken(env: Env): string | undefined {
  const t = env.ADMIN_TOKEN;
  if (!t) return undefined;
  if (t.length < 16) throw new ConfigError("ADMIN_TOKEN must be at least 16 characters");
  return t;
}

function logLevel(env: Env): Config["logLevel"] {
  const v = env.LOG_LEVEL || "info";
  if (v !== "debug" && v !== "info" && v !== "warn" && v !== "error") throw new ConfigError(`LOG_LEVEL must be debug, info, warn or error, got "${v}"`);
  return v;
}

function databaseSettings(env: Env): DatabaseSettings {
  return {
    timeoutMs: integer(env, "DATABASE_TIMEOUT_MS", 1500, 100, 60_000),
    unhealthyAfterMs: integer(env, "DATABASE_UNHEALTHY_AFTER_MS", 30_000, 1000, 3_600_000),
    restartWithinMs: integer(env, "DATABASE_RESTART_WITHIN_MS", 30_000, 1000, 600_000),
    poolSize: env.DATABASE_POOL_SIZE ? integer(env, "DATABASE_POOL_SIZE", 0, 1, 1000) : undefined,
    embeddedSync: oneOf(env, "EMBEDDED_DATABASE_SYNC", ["full", "normal"] as const, "full"),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const production = isProduction(env);
  const dataDir = resolve(env.DATA_DIR || "data");
  const mongodbUri = env.MONGODB_URI || undefined;
  if (mongodbUri !== undefined && !/^mongodb(\+srv)?:\/\//.test(mongodbUri)) {
    throw new ConfigError("MONGODB_URI must start with mongodb:// or mongodb+srv://");
  }
  const databaseName = env.MONGODB_DATABASE || "genstore_payments";
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(databaseName)) {
    throw new ConfigError(`MONGODB_DATABASE must be 1-63 letters, digits, "_" or "-", got "${databaseName}"`);
  }
  const defaultShopId = env.DEFAULT_SHOP_ID || "default";
  if (!shopPattern.test(defaultShopId)) {
    throw new ConfigError(`DEFAULT_SHOP_ID must be 1-100 letters, digits, ".", "_" or "-", got "${defaultShopId}"`);
  }
  return {
    port: integer(env, "PORT", 8080, 0, 65535),
    host: env.HOST || "0.0.0.0",
    publicUrl: url(env, "PUBLIC_URL"),
    mongodbUri,
    databaseName,
    dataDir,
    cacheDir: resolve(env.CACHE_DIR || ".cache"),
    scaleOut: scaleOutSettings(env, hostname(), process.pid),
    database: databaseSettings(env),
    defaultShopId,
    maxBodyBytes: integer(env, "MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
    production,
    server: {
      headersTimeoutMs: integer(env, "HEADERS_TIMEOUT_MS", 10_000, 100, 300_000),
      requestTimeoutMs: integer(env, "REQUEST_TIMEOUT_MS", 60_000, 1000, 600_000),
      keepAliveTimeoutMs: integer(env, "KEEP_ALIVE_TIMEOUT_MS", 65_000, 100, 600_000),
      http2IdleTimeoutMs: integer(env, "HTTP2_IDLE_TIMEOUT_MS", 120_000, 100, 3_600_000),
      maxConnections: integer(env, "MAX_CONNECTIONS", 2000, 1, 1_000_000),
    },
    returnRefreshMs: integer(env, "RETURN_REFRESH_MS", 5000, 0, 600_000),
    paymentRetryWindowMs: integer(env, "PAYMENT_RETRY_WINDOW_MS", 3_600_000, 1000, 7 * 86_400_000),
    pspTimeoutMs: integer(env, "PSP_TIMEOUT_MS", 8000, 100, 120_000),
    pspBreaker: { failures: integer(env, "PSP_BREAKER_FAILURES", 5, 1, 1000), openMs: integer(env, "PSP_BREAKER_OPEN_MS", 30_000, 100, 3_600_000) },
    connectors: connectorSettings(env),
    callbacks: {
      pollMs: integer(env, "CALLBACK_SCAN_MS", 30_000, 10, 3_600_000),
      timeoutMs: integer(env, "CALLBACK_TIMEOUT_MS", 10_000, 100, 120_000),
      backoffBaseMs: integer(env, "CALLBACK_BACKOFF_BASE_MS", 1000, 1, 3_600_000),
      backoffMaxMs: integer(env, "CALLBACK_BACKOFF_MAX_MS", 3_600_000, 1, 86_400_000),
      retryWindowMs: integer(env, "CALLBACK_RETRY_HOURS", 72, 72, 24 * 365) * 3_600_000,
      rateLimit: {
        capacity: integer(env, "GENSTORE_RATE_LIMIT_BURST", 40, 1, 100_000),
        perSecond: integer(env, "GENSTORE_RATE_LIMIT_PER_SECOND", 2, 1, 100_000),
      },
    },
    security: {
      ...signatureSettings(env, production),
      adminToken: adminToken(env),
      internalTokens: internalTokens(env),
      rateLimitPerIp: integer(env, "RATE_LIMIT_PER_IP", 1000, 1, 1_000_000),
      rateLimitPerShop: integer(env, "RATE_LIMIT_PER_SHOP", 200, 1, 1_000_000),
    },
    onboarding: onboardingSettings(env, production),
    logLevel: logLevel(env),
    cardHkdfInfo: Buffer.from(env.CARD_HKDF_INFO ?? "", "utf8"),
    shutdownTimeoutMs: integer(env, "SHUTDOWN_TIMEOUT_MS", 10_000, 0, 600_000),
    reconcile: {
      intervalMs: integer(env, "RECONCILE_INTERVAL_MS", 30_000, 100, 3_600_000),
      minAgeMs: integer(env, "RECONCILE_MIN_AGE_MS", 60_000, 0, 86_400_000),
      actionExpiryMs: integer(env, "PAYMENT_ACTION_EXPIRY_MS", 30 * 60_000, 1000, 7 * 86_400_000),
    },
    defaultShop: {
      ...defaultShopPsp(env, production),
      genstoreAccessToken: env.GENSTORE_ACCESS_TOKEN || undefined,
      callbackBaseUrl: url(env, "GENSTORE_CALLBACK_BASE_URL"),
      manualCaptureMeansAuthorizeOnly: bool(env, "MANUAL_CAPTURE_MEANS_AUTHORIZE_ONLY", true),
      redirectHosts: hostList(env, "DEFAULT_SHOP_REDIRECT_HOSTS"),
    },
  };
}
