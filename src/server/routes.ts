import type { ConnectRouter } from "@connectrpc/connect";
import { file_genstore_payment_v1_operations_service, OperationsService } from "../../gen/genstore/payment/v1/operations_service_pb.js";
import { file_genstore_payment_v1_payment_service, PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import { paymentServiceRoutes } from "../../gen/genstore/payment/v1/payment_service_routes.js";
import { file_genstore_payment_v1_shop_service, ShopService } from "../../gen/genstore/payment/v1/shop_service_pb.js";
import { file_grpc_reflection_v1_reflection, ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection, ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_health_v1_health, Health } from "../../gen/health/v1/health_pb.js";
import type { CallbackDispatcher } from "../callbacks/dispatcher.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { PaymentRepository } from "../payments/records.js";
import type { ShopConfig, ShopDirectory, ShopRepository } from "../payments/shops.js";
import type { PaymentUseCases } from "../payments/use-cases/index.js";
import type { ConnectorModule, ConnectorPage } from "../psp/module.js";
import type { ConnectorRegistry } from "../psp/registry.js";
import type { WebhookEventRepository } from "../store/webhookEventRepository.js";
import { createApiDocs } from "./apiDocs.js";
import type { RequestGate } from "./auth/requestGate.js";
import type { ReturnLinks } from "./auth/returnLinks.js";
import { createConnectHandler } from "./connectHandler.js";
import { createGrpcUnaryPath } from "./grpcUnary.js";
import { serverCompressions } from "./compression.js";
import { createGateInterceptor } from "./gateInterceptor.js";
import { createGateway } from "./gateway/createGateway.js";
import { createHealthServiceImpl } from "./healthService.js";
import { createHttpHandler, sendText, type HttpRoute } from "./httpRoutes.js";
import { sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";
import { createOperationsServiceImpl } from "./operationsServiceImpl.js";
import { createPaymentServiceImpl } from "./paymentServiceImpl.js";
import { createReflectionServiceImpl } from "./reflectionService.js";
import { createReturnRoute } from "./returnRoute.js";
import { createShopServiceImpl } from "./shopServiceImpl.js";
import { createWebhookRoute } from "./webhookRoute.js";
import type { Onboarding } from "../onboarding/onboarding.js";
import type { PaymentListing } from "../payments/paymentListing.js";
import type { SessionCookies } from "./auth/sessionCookies.js";
import { createGenstoreWebhookRoute } from "./genstoreWebhookRoute.js";
import { merchantRoutes } from "./merchantRoutes.js";
import { createAssets } from "./pages/assets.js";
import { consoleRoutes } from "./console/consoleRoutes.js";
import type { ConsoleSessions } from "./console/consoleSessions.js";

/** Operators' services: a bearer token, never reachable through Genstore's routes. */
const operatorServices: readonly string[] = [ShopService.typeName, OperationsService.typeName];

/** The services we serve over gRPC and Connect. */
const servedDescriptors = [PaymentService, ShopService, OperationsService, Health, ServerReflection, ServerReflectionV1alpha];

/** Their names, as health and reflection list them. */
export const servedServices: readonly string[] = servedDescriptors.map((s) => s.typeName);

/** Every method path of those services (`/package.Service/Method`), for the metric's route label. */
const servedMethods: ReadonlySet<string> = new Set(servedDescriptors.flatMap((s) => s.methods.map((m) => `/${s.typeName}/${m.name}`)));

const servedFiles = [
  file_genstore_payment_v1_payment_service,
  file_genstore_payment_v1_shop_service,
  file_genstore_payment_v1_operations_service,
  file_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
];

/** What the edge serves: the domain's use cases and services, and the pieces of the port. */
export interface EdgeParts {
  useCases: PaymentUseCases;
  gate: RequestGate;
  returnLinks: ReturnLinks;
  payments: PaymentRepository;
  shopRepository: ShopRepository;
  shops: ShopDirectory;
  /** The default shop from the environment, which operators see beside the stored ones. */
  defaultShop: ShopConfig | undefined;
  connectors: ConnectorRegistry;
  modules: readonly ConnectorModule<never>[];
  pages: readonly ConnectorPage[];
  webhookEvents: WebhookEventRepository;
  dispatcher: CallbackDispatcher;
  metrics: Metrics;
  readiness: () => Promise<Record<string, boolean>>;
  /** Whether the service can serve at all; false asks its supervisor for a restart. */
  liveness: () => { ok: boolean } & Record<string, unknown>;
  publicKeys: () => string[];
  maxBodyBytes: number;
  log: Logger;
  listing: PaymentListing;
  /** Merchant onboarding: install, authorization page, uninstall and compliance webhooks. */
  onboarding: Onboarding;
  merchantCookies: SessionCookies;
  genstoreClientId: string | undefined;
  genstoreClientSecret: string | undefined;
  publicUrl: () => string;
  consoleSessions: ConsoleSessions;
}

/** Connect and gRPC: our services behind the request gate, reading at most maxBodyBytes. */
function connectRoutes(p: EdgeParts, paymentImpl: ReturnType<typeof createPaymentServiceImpl>) {
  const isServing = async () => Object.values(await p.readiness()).every(Boolean);
  const interceptors = [createGateInterceptor(p.gate, operatorServices, p.log)];
  const rpcFailed = (err: unknown, rpc: string) => p.log({ level: "error", msg: "rpc handler failed", rpc, error: String(err) });
  return createConnectHandler({
    routes: (router: ConnectRouter) => {
      router.service(PaymentService, paymentImpl);
      router.service(ShopService, createShopServiceImpl(p.shopRepository, p.shops, p.modules, p.log, p.onboarding, p.defaultShop));
      router.service(OperationsService, createOperationsServiceImpl(p.payments, p.dispatcher, p.log, p.listing));
      router.service(Health, createHealthServiceImpl({ services: servedServices, isServing }));
      router.service(ServerReflection, createReflectionServiceImpl(ServerReflection, servedFiles, servedServices));
      router.service(ServerReflectionV1alpha, createReflectionServiceImpl(ServerReflectionV1alpha, servedFiles, servedServices));
    },
    // The same limit as the JSON routes, after decompression too (a gzip bomb stops there).
    readMaxBytes: p.maxBodyBytes,
    keepRawBody: (service) => service === PaymentService.typeName,
    interceptors,
    // The payment calls, gRPC's hot path, with the same gate, limit and compressions.
    grpcUnary: createGrpcUnaryPath({
      service: PaymentService,
      impl: paymentImpl,
      interceptors,
      readMaxBytes: p.maxBodyBytes,
      acceptCompression: serverCompressions,
      onError: rpcFailed,
    }),
    fallback: (req, res) => sendJson(res, 404, { error: `no route for ${req.method} ${new URL(req.url ?? "/", "http://x").pathname}` }),
    onError: rpcFailed,
  });
}

/** The route table of the port: probes, the card key, return links, webhooks, connector pages. */
function routeTable(p: EdgeParts): HttpRoute[] {
  const returnRoute = createReturnRoute(p.useCases, p.returnLinks, p.log);
  const webhookRoute = createWebhookRoute({
    connectors: p.connectors,
    shops: p.shops,
    useCases: p.useCases,
    events: p.webhookEvents,
    log: p.log,
    maxBodyBytes: p.maxBodyBytes,
  });
  return [
    {
      label: "GET /healthz",
      methods: ["GET"],
      pattern: /^\/healthz$/,
      unlimited: true,
      handle(_req, res) {
        const { ok, ...detail } = p.liveness();
        sendJson(res, ok ? 200 : 503, { status: ok ? "ok" : "unhealthy", ...detail });
      },
    },
    {
      label: "GET /readyz",
      methods: ["GET"],
      pattern: /^\/readyz$/,
      unlimited: true,
      async handle(_req, res) {
        const r = await p.readiness();
        const ok = Object.values(r).every(Boolean);
        sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "not ready", ...r });
      },
    },
    {
      label: "GET /metrics",
      methods: ["GET"],
      pattern: /^\/metrics$/,
      unlimited: true,
      handle: async (_req, res) => sendText(res, 200, p.metrics.registry.contentType, await p.metrics.registry.metrics()),
    },
    {
      label: "GET /genstore/v1/card-encryption-key",
      methods: ["GET"],
      pattern: /^\/genstore\/v1\/card-encryption-key$/,
      handle(_req, res) {
        const keys = p.publicKeys();
        sendJson(res, 200, { publicKey: keys[0], publicKeys: keys, format: "base64 X.509 SubjectPublicKeyInfo DER, P-256" });
      },
    },
    ...apiDocsRoutes(),
    {
      label: "GET /return/{shop}/{payment}",
      methods: ["GET"],
      pattern: /^\/return\/([^/]+)\/([^/]+)$/,
      handle: (req, res, [shopId, paymentId]) => returnRoute(req, res, shopId!, paymentId!),
    },
    {
      label: "POST /psp/{connector}/webhooks",
      methods: ["POST"],
      pattern: /^\/psp\/([a-z0-9_-]+)\/webhooks$/,
      handle: (req, res, [name]) => webhookRoute(req, res, name!),
    },
    {
      label: "POST /psp/{connector}/webhooks/{shop}",
      methods: ["POST"],
      pattern: /^\/psp\/([a-z0-9_-]+)\/webhooks\/([^/]+)$/,
      handle: (req, res, [name, shopId]) => webhookRoute(req, res, name!, shopId),
    },
    ...onboardingRoutes(p),
    ...p.pages.map((page): HttpRoute => ({
      label: `${page.methods.join("|")} ${page.pattern.source}`,
      methods: page.methods,
      pattern: page.pattern,
      async handle(req, res) {
        if (!(await page.handle(req, res))) sendJson(res, 404, { error: `no route for ${req.method} ${req.url}` });
      },
    })),
  ];
}

/** The OpenAPI document of the Genstore JSON routes and its viewer. */
function apiDocsRoutes(): HttpRoute[] {
  const docs = createApiDocs();
  return [
    { label: "GET /openapi.json", methods: ["GET"], pattern: /^\/openapi\.json$/, handle: (_req, res) => docs.openApi(res) },
    { label: "GET /docs", methods: ["GET"], pattern: /^\/docs\/?$/, handle: (_req, res) => docs.page(res) },
    {
      label: "GET /docs/{file}",
      methods: ["GET"],
      pattern: /^\/docs\/([^/]+)$/,
      handle(req, res, [name]) {
        if (!docs.asset(res, name!)) sendJson(res, 404, { error: `no route for ${req.method} ${req.url}` });
      },
    },
  ];
}

/** The merchant's pages, Genstore's app webhooks, and the pages' static files. */
function onboardingRoutes(p: EdgeParts): HttpRoute[] {
  const serveAsset = createAssets();
  const genstoreWebhook = createGenstoreWebhookRoute({
    onboarding: p.onboarding,
    clientId: p.genstoreClientId,
    clientSecret: p.genstoreClientSecret,
    seen: p.webhookEvents,
    maxBodyBytes: p.maxBodyBytes,
    redirectUri: () => `${p.publicUrl()}/app/oauth/callback`,
    log: p.log,
  });
  return [
    { label: "GET /assets/{file}", methods: ["GET"], pattern: /^\/assets\/([\w.-]+)$/, handle: (req, res, [name]) => serveAsset(req, res, name!) },
    { label: "POST /genstore/webhooks", methods: ["POST"], pattern: /^\/genstore\/webhooks$/, handle: (req, res) => genstoreWebhook(req, res) },
    ...consoleRoutes(p.consoleSessions, p.modules, p.log),
    ...merchantRoutes({
      onboarding: p.onboarding,
      modules: p.modules,
      cookies: p.merchantCookies,
      clientSecret: p.genstoreClientSecret,
      publicUrl: p.publicUrl,
      log: p.log,
    }),
  ];
}

/**
 * The one request handler of the port: the route table, then the routes generated from the
 * proto (Genstore JSON, then Connect and gRPC).
 */
export function createEdge(p: EdgeParts): (req: NodeRequest, res: NodeResponse) => void {
  const paymentImpl = createPaymentServiceImpl(p.useCases, p.log);
  const gateway = createGateway(PaymentService, paymentImpl as never, paymentServiceRoutes, { maxBodyBytes: p.maxBodyBytes, log: p.log, gate: p.gate });
  const connect = connectRoutes(p, paymentImpl);
  return createHttpHandler({
    routes: routeTable(p),
    generated: {
      // Only paths we serve are labels: a made-up method name would be a new series each time.
      label: (path) => (servedMethods.has(path) ? path : gateway.label(path)),
      async handle(req, res) {
        if (!(await gateway.handle(req, res))) connect(req, res);
      },
    },
    admitAddress: p.gate.admitAddress,
    observe: p.metrics.request,
    log: p.log,
  });
}
