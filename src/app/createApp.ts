import type { Db } from "mongodb";
import { createCallbackDispatcher, type DispatcherOptions } from "../callbacks/dispatcher.js";
import type { CardDecryptor } from "../crypto/cardDecryptor.js";
import type { SecretBox } from "../crypto/secretBox.js";
import type { Logger } from "../observability/logger.js";
import { createMetrics } from "../observability/metrics.js";
import { createReconciler, type ReconcilerOptions } from "../payments/reconciler.js";
import type { PaymentRepository } from "../payments/records.js";
import { createShopDirectory, type ShopConfig, type ShopDirectory } from "../payments/shops.js";
import { createPaymentUseCases, paymentLockKey } from "../payments/use-cases/index.js";
import { connectorModules } from "../psp/modules.js";
import { createConnectorRegistry } from "../psp/registry.js";
import { createKeyedMutex } from "../runtime/keyedMutex.js";
import type { InternalToken } from "../server/auth/internalTokens.js";
import { createRequestGate } from "../server/auth/requestGate.js";
import { createReturnLinks } from "../server/auth/returnLinks.js";
import type { NodeRequest, NodeResponse } from "../server/httpJson.js";
import { createEdge } from "../server/routes.js";
import { createPaymentRepository } from "../store/paymentRepository.js";
import { createShopRepository } from "../store/shopRepository.js";
import { createWebhookEventRepository } from "../store/webhookEventRepository.js";

export interface AppOptions {
  db: Db;
  /** false on FerretDB (see createPaymentRepository). */
  atomicConditionalUpdates: boolean;
  cards: CardDecryptor;
  secretBox: SecretBox;
  /** Signs the return links given to PSPs (derived from the secrets key). */
  returnLinkKey: Buffer;
  defaultShopId: string;
  /** The environment-configured default shop, used unless an operator stored one. */
  defaultShop: ShopConfig | undefined;
  maxBodyBytes: number;
  pspTimeoutMs: number;
  /** Production: live payments need a real PSP, redirects need https. */
  production?: boolean;
  /** Each connector module's settings by connector name (config.connectors). */
  connectorSettings?: Record<string, unknown>;
  callbacks?: Omit<DispatcherOptions, "repository" | "shops" | "mutex" | "lockKey" | "log">;
  reconcile?: Omit<ReconcilerOptions, "repository" | "useCases" | "log">;
  /** The PSP is asked about a payment at most once per this interval from the return endpoint. */
  returnRefreshMs?: number;
  /** Base URL buyers reach us at; known only once the port is bound. */
  publicUrl: () => string;
  log: Logger;
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
}

/** The composition root: repositories, connectors, use cases, background work, and the edge. */
export function createApp(opts: AppOptions): App {
  const host = { db: opts.db, publicUrl: opts.publicUrl, log: opts.log };
  const instances = connectorModules.map((m) => m.create(opts.connectorSettings?.[m.name] as never, host));
  const connectors = createConnectorRegistry(instances.map((i) => i.connector));
  const shopRepository = createShopRepository(opts.db, opts.secretBox);
  const shops = createShopDirectory(shopRepository, opts.defaultShop);
  const payments = createPaymentRepository(opts.db, { atomicConditionalUpdates: opts.atomicConditionalUpdates });
  const mutex = createKeyedMutex();
  const metrics = metricsOf(payments);
  const dispatcher = createCallbackDispatcher({
    ...opts.callbacks,
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
    pspTimeoutMs: opts.pspTimeoutMs,
    log: opts.log,
    mutex,
    onCallbackQueued: dispatcher.notify,
    observer: metrics,
  });
  const gate = gateOf(opts, shops);
  const reconciler = createReconciler({ ...opts.reconcile, repository: payments, useCases, log: opts.log });
  /** Ready: the database answers, card keys are loaded, the callback dispatcher runs. */
  const readiness = async (): Promise<Record<string, boolean>> => {
    const database = await opts.db.command({ ping: 1 }, { timeoutMS: 2000 }).then(
      () => true,
      () => false,
    );
    return { database, cardKeys: opts.cards.publicKeys().length > 0, dispatcher: dispatcher.running };
  };
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
    webhookEvents: createWebhookEventRepository(opts.db),
    dispatcher,
    metrics,
    readiness,
    publicKeys: () => opts.cards.publicKeys(),
    maxBodyBytes: opts.maxBodyBytes,
    log: opts.log,
  });

  return {
    handler,
    start() {
      dispatcher.start();
      reconciler.start();
    },
    async stop() {
      await Promise.all([dispatcher.stop(), reconciler.stop()]);
      await Promise.all(instances.map((i) => i.stop?.()));
    },
  };
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

function gateOf(opts: AppOptions, shops: ShopDirectory) {
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
  });
}
