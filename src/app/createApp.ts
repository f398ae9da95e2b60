import type { Db } from "mongodb";
import { createCallbackDispatcher, type DispatcherOptions } from "../callbacks/dispatcher.js";
import type { CardDecryptor } from "../crypto/cardDecryptor.js";
import type { SecretBox } from "../crypto/secretBox.js";
import type { Logger } from "../observability/logger.js";
import { observeDatabaseCommands } from "../observability/databaseCommands.js";
import { createMetrics, deliveryJournalGauge } from "../observability/metrics.js";
import { createReconciler, type ReconcilerOptions } from "../payments/reconciler.js";
import type { PaymentListing } from "../payments/paymentListing.js";
import type { PaymentRepository } from "../payments/records.js";
import { createShopDirectory, type ShopConfig, type ShopDirectory } from "../payments/shops.js";
import { createPaymentUseCases, paymentLockKey } from "../payments/use-cases/index.js";
import type { PspBreakerSettings } from "../payments/use-cases/pspBreaker.js";
import { connectorModules } from "../psp/modules.js";
import { createConnectorRegistry } from "../psp/registry.js";
import { connectorHost } from "./connectorHost.js";
import { paymentStorage } from "./paymentStorage.js";
import { coordination, type ScaleOutSettings } from "./scaleOut.js";
import type { InternalToken } from "../server/auth/internalTokens.js";
import { createRequestGate } from "../server/auth/requestGate.js";
import { createReturnLinks } from "../server/auth/returnLinks.js";
import type { NodeRequest, NodeResponse } from "../server/httpJson.js";
import { createEdge } from "../server/routes.js";
import { probesOf } from "./probes.js";
import { createShopRepository } from "../store/shopRepository.js";
import { createWebhookEventRepository, type WebhookEventRepository } from "../store/webhookEventRepository.js";
import type { ShopRepository } from "../payments/shops.js";
import { randomBytes } from "node:crypto";
import type { OnboardingSettings } from "../onboardingConfig.js";
import { createGenstoreShopApi } from "../onboarding/genstoreApp.js";
import { createOnboarding } from "../onboarding/onboarding.js";
import { createSessionCookies, derivedKey } from "../server/auth/sessionCookies.js";
import { createConsoleSessions } from "../server/console/consoleSessions.js";

export interface AppOptions {
  db: Db;
  /** false on FerretDB (see createPaymentRepository). */
  atomicConditionalUpdates: boolean;
  /** This instance's id: `instance_info{instance_id}` in the metrics, the owner of its leases. */
  instanceId?: string;
  /** Set when other instances use the same database: leases (see scaleOut.ts). */
  scaleOut?: ScaleOutSettings | undefined;
  cards: CardDecryptor;
  secretBox: SecretBox;
  /** Signs the return links given to PSPs (derived from the secrets key). */
  returnLinkKey: Buffer;
  defaultShopId: string;
  /** The environment-configured default shop, used unless an operator stored one. */
  defaultShop: ShopConfig | undefined;
  maxBodyBytes: number;
  pspTimeoutMs: number;
  /** The PSP circuit breaker per shop and connector. */
  pspBreaker?: PspBreakerSettings;
  /** Production: live payments need a real PSP, redirects need https. */
  production?: boolean;
  /**
   * Where connectors may keep files (`<dir>/<connector>`), for an instance whose data is its own
   * (main.ts: DATA_DIR/psp unless SHARED_DATABASE); embeddedDatabase: the payments are there too.
   */
  connectorFiles?: { dir: string; embeddedDatabase: boolean } | undefined;
  /** Each connector module's settings by connector name (config.connectors). */
  connectorSettings?: Record<string, unknown>;
  callbacks?: Omit<DispatcherOptions, "repository" | "shops" | "mutex" | "lockKey" | "log" | "exclusive">;
  reconcile?: Omit<ReconcilerOptions, "repository" | "useCases" | "log" | "exclusive">;
  /** The PSP is asked about a payment at most once per this interval from the return endpoint. */
  returnRefreshMs?: number;
  /** A payment claimed but never sent waits this long for Genstore's retry before it is declined. */
  paymentRetryWindowMs?: number;
  /** /healthz turns 503 once the database has been unreachable this long (default 30 s). */
  databaseUnhealthyAfterMs?: number;
  /** Between the database health pings (default 1 s). */
  databasePingMs?: number;
  /** Base URL buyers reach us at; known only once the port is bound. */
  publicUrl: () => string;
  log: Logger;
  /** Signs the merchant's and operators' session cookies (from the secrets key); random per process when unset. */
  secretsKey?: Buffer;
  /** Merchant onboarding through Genstore's OAuth; the App URL answers 404 when unset. */
  onboarding?: OnboardingSettings | undefined;
  security?: {
    genstoreClientSecret?: string | undefined;
    requireSignature?: boolean;
    adminToken?: string | undefined;
    internalTokens?: readonly InternalToken[];
    rateLimitPerIp?: number;
    rateLimitPerShop?: number;
  };
}

export interface App {
  handler: (req: NodeRequest, res: NodeResponse) => void;
  /** Starts the callback dispatcher and the reconciler. */
  start(): void;
  /** Stops them, waiting for work under way. */
  stop(): Promise<void>;
  /** Resolves once the writes that follow payments already answered are done (startPayment.ts). */
  settled(): Promise<void>;
  /** The payments as the service reads and writes them (on FerretDB, with the in-memory index). */
  payments: PaymentRepository;
  listing: PaymentListing; // the operators' listing (on FerretDB, the in-memory index)
}

/** The composition root: repositories, connectors, use cases, background work, and the edge. */
export function createApp(opts: AppOptions): App {
  const instances = connectorModules.map((m) => m.create(opts.connectorSettings?.[m.name] as never, connectorHost(m.name, opts)));
  const connectors = createConnectorRegistry(instances.map((i) => i.connector));
  const shopRepository = createShopRepository(opts.db, opts.secretBox);
  const shops = createShopDirectory(shopRepository, opts.defaultShop);
  const { payments, listing, index, journal } = paymentStorage(opts);
  const metrics = metricsOf(payments);
  if (journal) deliveryJournalGauge(metrics.registry, () => journal.unfolded);
  const instanceId = opts.instanceId ?? "single";
  observeDatabaseCommands(opts.db.client, metrics.registry);
  const { mutex, delivery, reconcile, sweeper } = coordination(opts.db, instanceId, opts.scaleOut, opts.log, metrics.registry);
  const dispatcher = createCallbackDispatcher({
    ...opts.callbacks,
    ...(delivery ? { exclusive: delivery } : {}),
    repository: payments,
    shops,
    mutex,
    lockKey: paymentLockKey,
    log: opts.log,
    observer: metrics,
  });
  const returnLinks = createReturnLinks(opts.returnLinkKey, opts.publicUrl);
  const useCases = createPaymentUseCases({
    repository: payments,
    shops,
    connectors,
    cards: opts.cards,
    returnLink: returnLinks.url,
    production: opts.production ?? false,
    ...(opts.returnRefreshMs !== undefined ? { returnRefreshMs: opts.returnRefreshMs } : {}),
    ...(opts.paymentRetryWindowMs !== undefined ? { paymentRetryWindowMs: opts.paymentRetryWindowMs } : {}),
    pspTimeoutMs: opts.pspTimeoutMs,
    ...(opts.pspBreaker ? { pspBreaker: opts.pspBreaker } : {}),
    log: opts.log,
    mutex,
    lockWrites: opts.scaleOut !== undefined,
    onCallbackQueued: dispatcher.notify,
    observer: metrics,
  });
  const { health, readiness, liveness } = probesOf(opts, dispatcher);
  const consoleSessions = createConsoleSessions(opts.secretsKey ?? processKey, opts.security?.adminToken);
  const gate = gateOf(opts, shops, consoleSessions.admits, () => health.up);
  const reconciler = createReconciler({ ...opts.reconcile, ...(reconcile ? { exclusive: reconcile } : {}), repository: payments, useCases, log: opts.log });
  const webhookEvents = createWebhookEventRepository(opts.db);
  const onboarding = onboardingOf(opts, shopRepository, shops, webhookEvents);
  const handler = createEdge({
    useCases,
    gate,
    returnLinks,
    payments,
    shopRepository,
    shops,
    defaultShop: opts.defaultShop,
    connectors,
    modules: connectorModules,
    pages: instances.flatMap((i) => i.pages ?? []),
    webhookEvents,
    listing,
    onboarding,
    ...edgeAccess(opts),
    consoleSessions,
    dispatcher,
    metrics,
    readiness,
    liveness,
    publicKeys: () => opts.cards.publicKeys(),
    maxBodyBytes: opts.maxBodyBytes,
    log: opts.log,
  });

  const folding = journal && {
    start: () => journal.start((shopId, paymentId, task) => mutex.run(paymentLockKey(shopId, paymentId), task)),
    stop: journal.stop,
  };
  return { handler, payments, listing, ...backgroundOf(opts, { health, dispatcher, reconciler, index, instances, sweeper, folding, useCases }) };
}

/** The background work: the database's health monitor, the dispatcher, the reconciler, the console's index. */
function backgroundOf(
  opts: AppOptions,
  parts: {
    health: { start(): void; stop(): void };
    dispatcher: { start(): void; stop(): Promise<void> };
    reconciler: { start(): void; stop(): Promise<void> };
    index: { load(): Promise<void> } | undefined;
    instances: { stop?(): Promise<void> | void }[];
    sweeper: { start(): void; stop(): Promise<void> } | undefined;
    folding: { start(): void; stop(): Promise<void> } | undefined;
    useCases: { settled(): Promise<void> };
  },
): Omit<App, "handler" | "payments" | "listing"> {
  let indexLoad: Promise<unknown> | undefined;
  let stopped = false;
  return {
    settled: () => parts.useCases.settled(),
    start() {
      const started = Date.now();
      stopped = false;
      // The index first: the scans the dispatcher and the reconciler start with then wait for it
      // rather than read every payment from FerretDB.
      const loading = parts.index?.load() ?? Promise.resolve();
      parts.health.start();
      parts.dispatcher.start();
      parts.reconciler.start();
      parts.sweeper?.start();
      indexLoad = loading
        .then(
          () => parts.index && opts.log({ level: "info", msg: "payment index loaded", ms: Date.now() - started }),
          (err: unknown) => opts.log({ level: "error", msg: "payment index not loaded; listings and scans read the database", error: String(err) }),
        )
        // Folding writes payments: not while the index reads them all (FerretDB lost that cursor).
        .then(() => stopped || parts.folding?.start());
    },
    async stop() {
      stopped = true;
      // Payments answered whose final write is still under way (startPayment.ts) land first.
      await parts.useCases.settled();
      parts.health.stop();
      await Promise.all([parts.dispatcher.stop(), parts.reconciler.stop(), indexLoad, parts.sweeper?.stop()]);
      await parts.folding?.stop();
      await Promise.all(parts.instances.map((i) => i.stop?.()));
    },
  };
}

/** Without a secrets key (some tests), sessions are signed with a key of this process. */
const processKey = randomBytes(32);

/** What the edge's pages need to know who is asking: session keys and Genstore's app identity. */
function edgeAccess(opts: AppOptions) {
  return {
    merchantCookies: createSessionCookies(derivedKey(opts.secretsKey ?? processKey, "merchant sessions")),
    genstoreClientId: opts.onboarding?.clientId,
    genstoreClientSecret: opts.security?.genstoreClientSecret,
    publicUrl: opts.publicUrl,
  };
}

/** Merchant onboarding over the shops, with Genstore's install protocol when it is configured. */
function onboardingOf(opts: AppOptions, shopRepository: ShopRepository, shops: ShopDirectory, seen: WebhookEventRepository) {
  const clientSecret = opts.security?.genstoreClientSecret;
  return createOnboarding({
    shops: shopRepository,
    directory: shops,
    api: opts.onboarding && clientSecret ? createGenstoreShopApi(opts.onboarding, clientSecret) : undefined,
    modules: connectorModules,
    connectorSettings: opts.connectorSettings ?? {},
    seen,
    log: opts.log,
  });
}

/** Metrics, with both callback gauges from one count per scrape (two collection scans on FerretDB, not four). */
function metricsOf(payments: PaymentRepository) {
  let counting: { at: number; counts: ReturnType<PaymentRepository["countCallbacks"]> } | undefined;
  const countCallbacks = () => {
    if (!counting || Date.now() - counting.at > 1000) counting = { at: Date.now(), counts: payments.countCallbacks() };
    return counting.counts;
  };
  return createMetrics(
    async () => (await countCallbacks()).pending,
    async () => (await countCallbacks()).parked,
  );
}

function gateOf(opts: AppOptions, shops: ShopDirectory, consoleSession: (headers: Headers) => boolean, databaseUp: () => boolean) {
  const security = opts.security ?? {};
  return createRequestGate({
    shops,
    defaultShopId: opts.defaultShopId,
    genstoreClientSecret: security.genstoreClientSecret,
    requireSignature: security.requireSignature ?? false,
    internalTokens: security.internalTokens ?? [],
    adminToken: security.adminToken,
    rateLimitPerIp: security.rateLimitPerIp ?? 1000,
    rateLimitPerShop: security.rateLimitPerShop ?? 200,
    consoleSession,
    databaseUp,
  });
}

export { connectorDatabase } from "./connectorHost.js";
