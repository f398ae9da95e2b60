import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Db } from "mongodb";
import { file_genstore_payment_v1_payment_service, PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import { paymentServiceRoutes } from "../../gen/genstore/payment/v1/payment_service_routes.js";
import { file_genstore_payment_v1_operations_service, OperationsService } from "../../gen/genstore/payment/v1/operations_service_pb.js";
import { file_genstore_payment_v1_shop_service, ShopService } from "../../gen/genstore/payment/v1/shop_service_pb.js";
import { createCallbackDispatcher, type DispatcherOptions } from "../callbacks/dispatcher.js";
import { createTokenBuckets } from "../runtime/tokenBucket.js";
import { file_grpc_reflection_v1_reflection, ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_health_v1_health, Health } from "../../gen/health/v1/health_pb.js";
import type { CardDecryptor } from "../crypto/cardDecryptor.js";
import type { SecretBox } from "../crypto/secretBox.js";
import { createGateway } from "../gateway/createGateway.js";
import { PaymentError } from "../payments/errors.js";
import { createKeyedMutex } from "../runtime/keyedMutex.js";
import { createPaymentUseCases, paymentLockKey } from "../payments/paymentUseCases.js";
import { createReconciler, type ReconcilerOptions } from "../payments/reconciler.js";
import { createShopDirectory, type ShopConfig } from "../payments/shops.js";
import { createConnectorRegistry } from "../psp/registry.js";
import { createSandboxConnector } from "../psp/sandbox/connector.js";
import { createSandboxLedger } from "../psp/sandbox/ledger.js";
import { createSandboxPages } from "../psp/sandbox/pages.js";
import { createSandboxWebhookSender } from "../psp/sandbox/webhooks.js";
import { createStripeConnector, type StripeOptions } from "../psp/stripe/connector.js";
import { createPaymentRepository } from "../store/paymentRepository.js";
import { createShopRepository } from "../store/shopRepository.js";
import { httpStatusOf, toConnectError } from "./errorMapping.js";
import { createHealthServiceImpl } from "./healthService.js";
import { decodePathSegment, headersOf, sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";
import { createPaymentServiceImpl, type Logger } from "./paymentServiceImpl.js";
import { createReflectionServiceImpl } from "./reflectionService.js";
import { requestIdFrom, requestIdKey, shopIdKey } from "./requestContext.js";
import { resolveShopId } from "./shop.js";
import { createMetrics } from "./metrics.js";
import { createOperationsServiceImpl } from "./operationsServiceImpl.js";
import { verifyGenstoreRequest } from "./requestAuth.js";
import { createShopServiceImpl } from "./shopServiceImpl.js";
import { createWebhookRoute } from "./webhookRoute.js";

export interface AppOptions {
  db: Db;
  /** false on FerretDB (see createPaymentRepository). */
  atomicConditionalUpdates: boolean;
  cards: CardDecryptor;
  secretBox: SecretBox;
  defaultShopId: string;
  /** The environment-configured default shop, used unless an operator stored one. */
  defaultShop: ShopConfig | undefined;
  maxBodyBytes: number;
  pspTimeoutMs: number;
  sandbox: { latencyMs: number; asyncDelayMs: number; webhookSecret?: string | undefined };
  /** The Stripe connector's settings (API base for stripe-mock, timeouts, retries). */
  stripe?: StripeOptions;
  callbacks?: Omit<DispatcherOptions, "repository" | "shops" | "mutex" | "lockKey" | "log">;
  reconcile?: Omit<ReconcilerOptions, "repository" | "useCases" | "log">;
  /** Base URL buyers reach us at; known only once the port is bound. */
  publicUrl: () => string;
  log: Logger;
  security?: {
    genstoreClientSecret?: string | undefined;
    requireSignature?: boolean;
    adminToken?: string | undefined;
    rateLimitPerIp?: number;
    rateLimitPerShop?: number;
  };
}

/** Operators' services: a bearer token, never reachable through Genstore's routes. */
const internalServices: readonly string[] = [ShopService.typeName, OperationsService.typeName];

const securityHeaders: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
};

/** A bounded label for metrics: ids in paths become placeholders. */
function routeLabel(method: string, path: string): string {
  if (/^\/genstore\.payment\.v1\.\w+\/\w+$/.test(path) || /^\/grpc\.(health|reflection)\.v1\.\w+\/\w+$/.test(path)) return path;
  const known: [RegExp, string][] = [
    [/^\/genstore\/v1\/payments\/(card|offsite)$/, "/genstore/v1/payments/$1"],
    [/^\/genstore\/v1\/(captures|voids|refunds|payments)$/, "/genstore/v1/$1"],
    [/^\/genstore\/v1\/(payments|refunds)\/[^/]+$/, "/genstore/v1/$1/{id}"],
    [/^\/genstore\/v1\/card-encryption-key$/, "/genstore/v1/card-encryption-key"],
    [/^\/sandbox\/(3ds|checkout)\/[^/]+$/, "/sandbox/$1/{ref}"],
    [/^\/return\/[^/]+\/[^/]+$/, "/return/{shop}/{payment}"],
    [/^\/psp\/([a-z0-9_-]+)\/webhooks$/, "/psp/$1/webhooks"],
    [/^\/psp\/([a-z0-9_-]+)\/webhooks\/[^/]+$/, "/psp/$1/webhooks/{shop}"],
    [/^\/(healthz|readyz|metrics)$/, "/$1"],
  ];
  for (const [re, label] of known) if (re.test(path)) return `${method} ${path.replace(re, label)}`;
  return "other";
}

function bearerMatches(header: string | null, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? "")?.[1] ?? "");
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface App {
  handler: (req: NodeRequest, res: NodeResponse) => void;
  /** Starts the callback dispatcher and the reconciler. */
  start(): void;
  /** Stops them, waiting for work under way. */
  stop(): Promise<void>;
}

/** The services we serve over gRPC and Connect, as health and reflection list them. */
export const servedServices = [PaymentService.typeName, ShopService.typeName, OperationsService.typeName, Health.typeName, ServerReflection.typeName] as const;

/**
 * Every Connect and gRPC call: the shop and request id from its headers (and a Connect GET's
 * query), the operators' bearer token for internal services, per-shop admission, and one log line.
 */
function requestContextInterceptor(opts: {
  defaultShopId: string;
  adminToken: string | undefined;
  admit: (shopId: string) => void;
  log: Logger;
}): Interceptor {
  return (next) => async (req) => {
    const started = Date.now();
    const requestId = requestIdFrom(req.header);
    const rpc = `${req.service.typeName}/${req.method.name}`;
    let shopId: string | undefined;
    try {
      if (internalServices.includes(req.service.typeName)) {
        if (!opts.adminToken) throw new ConnectError("internal services are disabled: set ADMIN_TOKEN", Code.Unauthenticated);
        if (!bearerMatches(req.header.get("authorization"), opts.adminToken)) throw new ConnectError("a valid operator bearer token is required", Code.Unauthenticated);
      }
      let query: URLSearchParams | undefined;
      try {
        query = new URL(req.url).searchParams;
      } catch {
        query = undefined;
      }
      try {
        shopId = resolveShopId(query, req.header, opts.defaultShopId);
        if (req.service.typeName === PaymentService.typeName) opts.admit(shopId);
      } catch (err) {
        throw toConnectError(err);
      }
      req.contextValues.set(shopIdKey, shopId);
      req.contextValues.set(requestIdKey, requestId);
      const res = await next(req);
      opts.log({ level: "info", msg: "request", requestId, shopId, rpc, protocol: req.requestMethod === "GET" ? "connect-get" : req.header.get("content-type")?.split(";")[0], code: "ok", ms: Date.now() - started });
      return res;
    } catch (err) {
      const ce = ConnectError.from(err);
      opts.log({ level: ce.code === Code.Internal ? "error" : "info", msg: "request", requestId, shopId, rpc, code: Code[ce.code], error: ce.rawMessage, ms: Date.now() - started });
      throw ce;
    }
  };
}

/** Composes the one request handler: health, card key, sandbox pages, returns, Genstore JSON routes, then Connect/gRPC. */
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
  const useCases = createPaymentUseCases({
    repository,
    shops,
    connectors,
    cards: opts.cards,
    publicUrl: opts.publicUrl,
    pspTimeoutMs: opts.pspTimeoutMs,
    log: opts.log,
    mutex,
    onCallbackQueued: dispatcher.notify,
    observer: metrics,
  });
  const security = opts.security ?? {};
  const ipBuckets = createTokenBuckets((security.rateLimitPerIp ?? 1000) * 2, security.rateLimitPerIp ?? 1000);
  const shopBuckets = createTokenBuckets((security.rateLimitPerShop ?? 200) * 2, security.rateLimitPerShop ?? 200);
  const admitShop = (shopId: string) => {
    if (shopBuckets.take(shopId) > 0) throw new PaymentError("rate_limited", `too many requests for shop ${shopId}; slow down and retry`);
  };
  /** Genstore's signature, with the shop's client secret or the deployment's (genstore-protocol.md §5). */
  const authenticate = async (shopId: string, rawQuery: string, rawBody: Buffer, headers: Headers) => {
    const shop = await shops.get(shopId).catch(() => undefined);
    verifyGenstoreRequest({
      rawQuery,
      rawBody,
      headers,
      secret: shop?.genstoreClientSecret ?? security.genstoreClientSecret,
      required: security.requireSignature ?? false,
      now: Date.now(),
    });
  };
  const reconciler = createReconciler({ ...opts.reconcile, repository, useCases, log: opts.log });
  const webhookRoute = createWebhookRoute(connectors, shops, useCases, opts.db, opts.log);
  const paymentImpl = createPaymentServiceImpl(useCases, opts.defaultShopId, opts.log);
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
  const servedFiles = [
    file_genstore_payment_v1_payment_service,
    file_genstore_payment_v1_shop_service,
    file_genstore_payment_v1_operations_service,
    file_health_v1_health,
    file_grpc_reflection_v1_reflection,
  ];

  const routes = (router: ConnectRouter) => {
    router.service(PaymentService, paymentImpl);
    router.service(ShopService, createShopServiceImpl(shopRepository, shops, connectors, opts.log));
    router.service(OperationsService, createOperationsServiceImpl(repository, dispatcher, opts.log));
    router.service(Health, createHealthServiceImpl({ services: servedServices, isServing }));
    router.service(ServerReflection, createReflectionServiceImpl(servedFiles, servedServices));
  };
  const connect = connectNodeAdapter({
    routes,
    interceptors: [requestContextInterceptor({ defaultShopId: opts.defaultShopId, adminToken: security.adminToken, admit: admitShop, log: opts.log })],
    fallback: (req, res) => sendJson(res as NodeResponse, 404, { error: `no route for ${req.method} ${new URL(req.url ?? "/", "http://x").pathname}` }),
  });
  const gateway = createGateway(PaymentService, paymentImpl as never, paymentServiceRoutes, {
    maxBodyBytes: opts.maxBodyBytes,
    defaultShopId: opts.defaultShopId,
    log: opts.log,
    authenticate,
    admit: admitShop,
  });
  const sandboxPages = createSandboxPages(ledger, (entry) => sandboxWebhooks.chargeUpdated(entry));

  /** GET /return/{shopId}/{paymentId}: the buyer is back from a PSP page (3-D Secure, checkout). */
  async function returnRoute(req: NodeRequest, res: NodeResponse, shopId: string, paymentId: string): Promise<void> {
    const headers = headersOf(req);
    try {
      const cancelled = new URL(req.url ?? "/", "http://x").searchParams.get("cancelled") === "1";
      const { redirectTo } = await useCases.returnFromPsp({ shopId, requestId: requestIdFrom(headers) }, paymentId, cancelled);
      (res as ServerResponse).writeHead(303, { location: redirectTo, "cache-control": "no-store" });
      res.end();
    } catch (err) {
      const ce = toConnectError(err);
      if (!(err instanceof PaymentError)) opts.log({ level: "error", msg: "return failed", shopId, paymentId, error: String(err) });
      sendJson(res, httpStatusOf(ce.code), { error: ce.rawMessage });
    }
  }

  const handler = (req: NodeRequest, res: NodeResponse): void => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const started = process.hrtime.bigint();
    for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
    res.once("finish", () => metrics.request(routeLabel(req.method ?? "GET", path), req.method ?? "GET", res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
    if (req.method === "GET" && path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (req.method === "GET" && path === "/readyz") {
      void readiness().then((r) => {
        const ok = Object.values(r).every(Boolean);
        sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "not ready", ...r });
      });
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      void metrics.registry.metrics().then((text) => {
        (res as ServerResponse).writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
      });
      return;
    }
    // Per client address, before any work (health and metrics above are exempt).
    const ip = req.socket?.remoteAddress ?? "unknown";
    if (ipBuckets.take(ip) > 0) {
      (res as ServerResponse).setHeader("retry-after", "1");
      return sendJson(res, 429, { error: "too many requests from this address; slow down and retry" });
    }
    if (req.method === "GET" && path === "/genstore/v1/card-encryption-key") {
      const keys = opts.cards.publicKeys();
      return sendJson(res, 200, { publicKey: keys[0], publicKeys: keys, format: "base64 X.509 SubjectPublicKeyInfo DER, P-256" });
    }
    const ret = /^\/return\/([^/]+)\/([^/]+)$/.exec(path);
    if (req.method === "GET" && ret?.[1] && ret[2]) {
      const [shopId, paymentId] = [decodePathSegment(ret[1]), decodePathSegment(ret[2])];
      if (shopId === undefined || paymentId === undefined) return sendJson(res, 400, { error: "malformed percent-encoding in the path" });
      void returnRoute(req, res, shopId, paymentId);
      return;
    }
    const fail = (err: unknown) => {
      opts.log({ level: "error", msg: "unhandled request failure", error: String(err) });
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
    };
    const hook = /^\/psp\/([a-z0-9_-]+)\/webhooks(?:\/([^/]+))?$/.exec(path);
    if (hook?.[1]) {
      const shopId = hook[2] === undefined ? undefined : decodePathSegment(hook[2]);
      if (hook[2] !== undefined && shopId === undefined) return sendJson(res, 400, { error: "malformed percent-encoding in the path" });
      webhookRoute(req, res, hook[1], shopId).catch(fail);
      return;
    }
    if (path.startsWith("/sandbox/")) {
      sandboxPages(req, res).then((handled) => {
        if (!handled) sendJson(res, 404, { error: `no route for ${req.method} ${path}` });
      }, fail);
      return;
    }
    gateway(req, res).then((handled) => {
      if (!handled) connect(req as never, res as never);
    }, fail);
  };

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
