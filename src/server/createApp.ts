import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Db } from "mongodb";
import { file_genstore_payment_v1_payment_service, PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import { paymentServiceRoutes } from "../../gen/genstore/payment/v1/payment_service_routes.js";
import { file_genstore_payment_v1_operations_service, OperationsService } from "../../gen/genstore/payment/v1/operations_service_pb.js";
import { file_genstore_payment_v1_shop_service, ShopService } from "../../gen/genstore/payment/v1/shop_service_pb.js";
import { createCallbackDispatcher, type DispatcherOptions } from "../callbacks/dispatcher.js";
import { file_grpc_reflection_v1_reflection, ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_health_v1_health, Health } from "../../gen/health/v1/health_pb.js";
import type { CardDecryptor } from "../crypto/cardDecryptor.js";
import type { SecretBox } from "../crypto/secretBox.js";
import { createGateway, type NodeRequest, type NodeResponse } from "../gateway/createGateway.js";
import { PaymentError } from "../payments/errors.js";
import { createKeyedMutex } from "../payments/keyedMutex.js";
import { createPaymentUseCases, paymentLockKey } from "../payments/paymentUseCases.js";
import { createReconciler, type ReconcilerOptions } from "../payments/reconciler.js";
import { createShopDirectory, type ShopConfig } from "../payments/shops.js";
import { createConnectorRegistry } from "../psp/registry.js";
import { createSandboxConnector } from "../psp/sandbox/connector.js";
import { createSandboxLedger } from "../psp/sandbox/ledger.js";
import { createSandboxPages } from "../psp/sandbox/pages.js";
import { createSandboxWebhookSender } from "../psp/sandbox/webhooks.js";
import { createPaymentRepository } from "../store/paymentRepository.js";
import { createShopRepository } from "../store/shopRepository.js";
import { httpStatusOf, toConnectError } from "./errorMapping.js";
import { createHealthServiceImpl } from "./healthService.js";
import { createPaymentServiceImpl, type Logger } from "./paymentServiceImpl.js";
import { createReflectionServiceImpl } from "./reflectionService.js";
import { requestIdFrom, requestIdKey, shopIdKey } from "./requestContext.js";
import { resolveShopId } from "./shop.js";
import { createOperationsServiceImpl } from "./operationsServiceImpl.js";
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
  callbacks?: Omit<DispatcherOptions, "repository" | "shops" | "mutex" | "lockKey" | "log">;
  reconcile?: Omit<ReconcilerOptions, "repository" | "useCases" | "log">;
  /** Base URL buyers reach us at; known only once the port is bound. */
  publicUrl: () => string;
  log: Logger;
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

function sendJson(res: NodeResponse, status: number, body: unknown): void {
  (res as ServerResponse).writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

/** Resolves the shop and request id of a Connect or gRPC call from its headers (and a Connect GET's query). */
function requestContextInterceptor(defaultShopId: string): Interceptor {
  return (next) => async (req) => {
    let query: URLSearchParams | undefined;
    try {
      query = new URL(req.url).searchParams;
    } catch {
      query = undefined;
    }
    try {
      req.contextValues.set(shopIdKey, resolveShopId(query, req.header, defaultShopId));
    } catch (err) {
      throw toConnectError(err);
    }
    req.contextValues.set(requestIdKey, requestIdFrom(req.header));
    return next(req);
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
  const connectors = createConnectorRegistry([sandbox]);
  const shopRepository = createShopRepository(opts.db, opts.secretBox);
  const shops = createShopDirectory(shopRepository, opts.defaultShop);
  const repository = createPaymentRepository(opts.db, { atomicConditionalUpdates: opts.atomicConditionalUpdates });
  const mutex = createKeyedMutex();
  const dispatcher = createCallbackDispatcher({ ...opts.callbacks, repository, shops, mutex, lockKey: paymentLockKey, log: opts.log });
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
  });
  const reconciler = createReconciler({ ...opts.reconcile, repository, useCases, log: opts.log });
  const webhookRoute = createWebhookRoute(connectors, useCases, opts.db, opts.log);
  const paymentImpl = createPaymentServiceImpl(useCases, opts.defaultShopId, opts.log);
  const isServing = async () => {
    try {
      await opts.db.command({ ping: 1 });
      return true;
    } catch {
      return false;
    }
  };
  const servedFiles = [
    file_genstore_payment_v1_payment_service,
    file_genstore_payment_v1_shop_service,
    file_genstore_payment_v1_operations_service,
    file_health_v1_health,
    file_grpc_reflection_v1_reflection,
  ];

  const routes = (router: ConnectRouter) => {
    router.service(PaymentService, paymentImpl);
    router.service(ShopService, createShopServiceImpl(shopRepository, shops, connectors.names(), opts.log));
    router.service(OperationsService, createOperationsServiceImpl(repository, dispatcher, opts.log));
    router.service(Health, createHealthServiceImpl({ services: servedServices, isServing }));
    router.service(ServerReflection, createReflectionServiceImpl(servedFiles, servedServices));
  };
  const connect = connectNodeAdapter({
    routes,
    interceptors: [requestContextInterceptor(opts.defaultShopId)],
    fallback: (req, res) => sendJson(res as NodeResponse, 404, { error: `no route for ${req.method} ${new URL(req.url ?? "/", "http://x").pathname}` }),
  });
  const gateway = createGateway(PaymentService, paymentImpl as never, paymentServiceRoutes, {
    maxBodyBytes: opts.maxBodyBytes,
    defaultShopId: opts.defaultShopId,
    log: opts.log,
  });
  const sandboxPages = createSandboxPages(ledger, (entry) => sandboxWebhooks.chargeUpdated(entry));

  /** GET /return/{shopId}/{paymentId}: the buyer is back from a PSP page (3-D Secure, checkout). */
  async function returnRoute(req: NodeRequest, res: NodeResponse, shopId: string, paymentId: string): Promise<void> {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && !k.startsWith(":")) headers.set(k, v);
    try {
      const { redirectTo } = await useCases.returnFromPsp({ shopId, requestId: requestIdFrom(headers) }, paymentId);
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
    if (req.method === "GET" && path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (req.method === "GET" && path === "/readyz") {
      void isServing().then((ok) => sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "database unreachable" }));
      return;
    }
    if (req.method === "GET" && path === "/genstore/v1/card-encryption-key") {
      const keys = opts.cards.publicKeys();
      return sendJson(res, 200, { publicKey: keys[0], publicKeys: keys, format: "base64 X.509 SubjectPublicKeyInfo DER, P-256" });
    }
    const ret = /^\/return\/([^/]+)\/([^/]+)$/.exec(path);
    if (req.method === "GET" && ret?.[1] && ret[2]) {
      void returnRoute(req, res, decodeURIComponent(ret[1]), decodeURIComponent(ret[2]));
      return;
    }
    const fail = (err: unknown) => {
      opts.log({ level: "error", msg: "unhandled request failure", error: String(err) });
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
    };
    const hook = /^\/psp\/([a-z0-9_-]+)\/webhooks$/.exec(path);
    if (hook?.[1]) {
      webhookRoute(req, res, hook[1]).catch(fail);
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
