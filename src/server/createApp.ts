import { randomBytes } from "node:crypto";
import type { ConnectRouter } from "@connectrpc/connect";
import type { Db } from "mongodb";
import { file_genstore_payment_v1_payment_service, PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import { paymentServiceRoutes } from "../../gen/genstore/payment/v1/payment_service_routes.js";
import { file_genstore_payment_v1_operations_service, OperationsService } from "../../gen/genstore/payment/v1/operations_service_pb.js";
import { file_genstore_payment_v1_shop_service, ShopService } from "../../gen/genstore/payment/v1/shop_service_pb.js";
import { file_grpc_reflection_v1_reflection, ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_health_v1_health, Health } from "../../gen/health/v1/health_pb.js";
import { createCallbackDispatcher, type DispatcherOptions } from "../callbacks/dispatcher.js";
import type { CardDecryptor } from "../crypto/cardDecryptor.js";
import type { SecretBox } from "../crypto/secretBox.js";
import { createGateway } from "../gateway/createGateway.js";
import { createPaymentUseCases, paymentLockKey } from "../payments/paymentUseCases.js";
import { createReconciler, type ReconcilerOptions } from "../payments/reconciler.js";
import { createShopDirectory, type ShopConfig } from "../payments/shops.js";
import { createConnectorRegistry } from "../psp/registry.js";
import { createSandboxConnector } from "../psp/sandbox/connector.js";
import { createSandboxLedger } from "../psp/sandbox/ledger.js";
import { createSandboxPages } from "../psp/sandbox/pages.js";
import { createSandboxWebhookSender } from "../psp/sandbox/webhooks.js";
import { createStripeConnector, type StripeOptions } from "../psp/stripe/connector.js";
import { createKeyedMutex } from "../runtime/keyedMutex.js";
import { createPaymentRepository } from "../store/paymentRepository.js";
import { createShopRepository } from "../store/shopRepository.js";
import type { InternalToken } from "./auth/internalTokens.js";
import { createRequestGate } from "./auth/requestGate.js";
import { createReturnLinks } from "./auth/returnLinks.js";
import { createConnectHandler } from "./connectHandler.js";
import { createGateInterceptor } from "./gateInterceptor.js";
import { createHealthServiceImpl } from "./healthService.js";
import { createHttpHandler, sendText, type HttpRoute } from "./httpRoutes.js";
import { sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";
import type { Logger } from "./logger.js";
import { createMetrics } from "./metrics.js";
import { createOperationsServiceImpl } from "./operationsServiceImpl.js";
import { createPaymentServiceImpl } from "./paymentServiceImpl.js";
import { createReflectionServiceImpl } from "./reflectionService.js";
import { createReturnRoute } from "./returnRoute.js";
import { createShopServiceImpl } from "./shopServiceImpl.js";
import { createWebhookRoute } from "./webhookRoute.js";

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
  sandbox: { latencyMs: number; asyncDelayMs: number; webhookSecret?: string | undefined };
  /** The Stripe connector's settings (API base for stripe-mock, timeouts, retries). */
  stripe?: StripeOptions;
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

/** Operators' services: a bearer token, never reachable through Genstore's routes. */
const operatorServices: readonly string[] = [ShopService.typeName, OperationsService.typeName];

export interface App {
  handler: (req: NodeRequest, res: NodeResponse) => void;
  /** Starts the callback dispatcher and the reconciler. */
  start(): void;
  /** Stops them, waiting for work under way. */
  stop(): Promise<void>;
}

/** The services we serve over gRPC and Connect, as health and reflection list them. */
export const servedServices = [PaymentService.typeName, ShopService.typeName, OperationsService.typeName, Health.typeName, ServerReflection.typeName] as const;

const servedFiles = [
  file_genstore_payment_v1_payment_service,
  file_genstore_payment_v1_shop_service,
  file_genstore_payment_v1_operations_service,
  file_health_v1_health,
  file_grpc_reflection_v1_reflection,
];

/** A bounded metrics label for the paths the generated routes serve. */
function generatedLabel(path: string, gatewayLabel: (path: string) => string | undefined): string | undefined {
  const rpc = /^\/([\w.]+)\/\w+$/.exec(path);
  if (rpc?.[1] && (servedServices as readonly string[]).includes(rpc[1])) return path;
  return gatewayLabel(path);
}

/** The composition root: repositories, connectors, use cases, background work, and the routes. */
export function createApp(opts: AppOptions): App {
  const ledger = createSandboxLedger(opts.db);
  // The sandbox signs its webhooks like a PSP; a secret per process is enough when none is set.
  const webhookSecret = opts.sandbox.webhookSecret ?? randomBytes(32).toString("hex");
  const sandboxWebhooks = createSandboxWebhookSender(webhookSecret, () => `${opts.publicUrl()}/psp/sandbox/webhooks`, opts.log);
  const sandbox = createSandboxConnector({
    ledger,
    publicUrl: opts.publicUrl,
    latencyMs: opts.sandbox.latencyMs,
    asyncDelayMs: opts.sandbox.asyncDelayMs,
    webhookSecret,
    webhooks: sandboxWebhooks,
  });
  const connectors = createConnectorRegistry([sandbox, createStripeConnector(opts.stripe)]);
  const shopRepository = createShopRepository(opts.db, opts.secretBox);
  const shops = createShopDirectory(shopRepository, opts.defaultShop);
  const repository = createPaymentRepository(opts.db, { atomicConditionalUpdates: opts.atomicConditionalUpdates });
  const mutex = createKeyedMutex();
  // Both callback gauges come from one count per scrape (two collection scans on FerretDB, not four).
  let counting: { at: number; counts: ReturnType<typeof repository.countCallbacks> } | undefined;
  const countCallbacks = () => {
    if (!counting || Date.now() - counting.at > 1000) counting = { at: Date.now(), counts: repository.countCallbacks() };
    return counting.counts;
  };
  const metrics = createMetrics(
    async () => (await countCallbacks()).pending,
    async () => (await countCallbacks()).parked,
  );
  const dispatcher = createCallbackDispatcher({ ...opts.callbacks, repository, shops, mutex, lockKey: paymentLockKey, log: opts.log, observer: metrics });
  const returnLinks = createReturnLinks(opts.returnLinkKey, opts.publicUrl);
  const useCases = createPaymentUseCases({
    repository,
    shops,
    connectors,
    cards: opts.cards,
    publicUrl: opts.publicUrl,
    returnLink: returnLinks.url,
    production: opts.production ?? false,
    ...(opts.returnRefreshMs !== undefined ? { returnRefreshMs: opts.returnRefreshMs } : {}),
    pspTimeoutMs: opts.pspTimeoutMs,
    log: opts.log,
    mutex,
    onCallbackQueued: dispatcher.notify,
    observer: metrics,
  });
  const security = opts.security ?? {};
  const gate = createRequestGate({
    shops,
    defaultShopId: opts.defaultShopId,
    genstoreClientSecret: security.genstoreClientSecret,
    requireSignature: security.requireSignature ?? false,
    internalTokens: security.internalTokens ?? [],
    adminToken: security.adminToken,
    rateLimitPerIp: security.rateLimitPerIp ?? 1000,
    rateLimitPerShop: security.rateLimitPerShop ?? 200,
  });
  const reconciler = createReconciler({ ...opts.reconcile, repository, useCases, log: opts.log });
  const paymentImpl = createPaymentServiceImpl(useCases, opts.log);
  /** Ready: the database answers, card keys are loaded, the callback dispatcher runs. */
  const readiness = async (): Promise<{ database: boolean; cardKeys: boolean; dispatcher: boolean }> => {
    let database = false;
    try {
      await opts.db.command({ ping: 1 }, { timeoutMS: 2000 });
      database = true;
    } catch {
      database = false;
    }
    return { database, cardKeys: opts.cards.publicKeys().length > 0, dispatcher: dispatcher.running };
  };
  const isServing = async () => Object.values(await readiness()).every(Boolean);

  const connect = createConnectHandler({
    routes: (router: ConnectRouter) => {
      router.service(PaymentService, paymentImpl);
      router.service(ShopService, createShopServiceImpl(shopRepository, shops, connectors, opts.log));
      router.service(OperationsService, createOperationsServiceImpl(repository, dispatcher, opts.log));
      router.service(Health, createHealthServiceImpl({ services: servedServices, isServing }));
      router.service(ServerReflection, createReflectionServiceImpl(servedFiles, servedServices));
    },
    // The same limit as the JSON routes, after decompression too (a gzip bomb stops there).
    readMaxBytes: opts.maxBodyBytes,
    keepRawBody: (service) => service === PaymentService.typeName,
    interceptors: [createGateInterceptor(gate, operatorServices, opts.log)],
    fallback: (req, res) => sendJson(res, 404, { error: `no route for ${req.method} ${new URL(req.url ?? "/", "http://x").pathname}` }),
    onError: (err, rpc) => opts.log({ level: "error", msg: "rpc handler failed", rpc, error: String(err) }),
  });
  const gateway = createGateway(PaymentService, paymentImpl as never, paymentServiceRoutes, { maxBodyBytes: opts.maxBodyBytes, log: opts.log, gate });
  const sandboxPages = createSandboxPages(ledger, (entry) => sandboxWebhooks.chargeUpdated(entry));
  const returnRoute = createReturnRoute(useCases, returnLinks, opts.log);
  const webhookRoute = createWebhookRoute(connectors, shops, useCases, opts.db, opts.log, opts.maxBodyBytes);

  const routes: HttpRoute[] = [
    { label: "GET /healthz", methods: ["GET"], pattern: /^\/healthz$/, unlimited: true, handle: (_req, res) => sendJson(res, 200, { status: "ok" }) },
    {
      label: "GET /readyz",
      methods: ["GET"],
      pattern: /^\/readyz$/,
      unlimited: true,
      async handle(_req, res) {
        const r = await readiness();
        const ok = Object.values(r).every(Boolean);
        sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "not ready", ...r });
      },
    },
    { label: "GET /metrics", methods: ["GET"], pattern: /^\/metrics$/, unlimited: true, handle: async (_req, res) => sendText(res, 200, metrics.registry.contentType, await metrics.registry.metrics()) },
    {
      label: "GET /genstore/v1/card-encryption-key",
      methods: ["GET"],
      pattern: /^\/genstore\/v1\/card-encryption-key$/,
      handle(_req, res) {
        const keys = opts.cards.publicKeys();
        sendJson(res, 200, { publicKey: keys[0], publicKeys: keys, format: "base64 X.509 SubjectPublicKeyInfo DER, P-256" });
      },
    },
    { label: "GET /return/{shop}/{payment}", methods: ["GET"], pattern: /^\/return\/([^/]+)\/([^/]+)$/, handle: (req, res, [shopId, paymentId]) => returnRoute(req, res, shopId!, paymentId!) },
    { label: "POST /psp/{connector}/webhooks", methods: ["POST"], pattern: /^\/psp\/([a-z0-9_-]+)\/webhooks$/, handle: (req, res, [name]) => webhookRoute(req, res, name!) },
    { label: "POST /psp/{connector}/webhooks/{shop}", methods: ["POST"], pattern: /^\/psp\/([a-z0-9_-]+)\/webhooks\/([^/]+)$/, handle: (req, res, [name, shopId]) => webhookRoute(req, res, name!, shopId) },
    {
      label: "/sandbox/{page}/{ref}",
      methods: ["GET", "POST"],
      pattern: /^\/sandbox\/(3ds|checkout)\/[^/]+$/,
      async handle(req, res) {
        if (!(await sandboxPages(req, res))) sendJson(res, 404, { error: `no route for ${req.method} ${req.url}` });
      },
    },
  ];
  const handler = createHttpHandler({
    routes,
    generated: {
      label: (path) => generatedLabel(path, gateway.label),
      async handle(req, res) {
        if (!(await gateway.handle(req, res))) connect(req, res);
      },
    },
    admitAddress: gate.admitAddress,
    observe: metrics.request,
    log: opts.log,
  });

  return {
    handler,
    start() {
      dispatcher.start();
      reconciler.start();
    },
    async stop() {
      sandbox.stop();
      await Promise.all([dispatcher.stop(), reconciler.stop()]);
      await sandboxWebhooks.flush();
    },
  };
}
