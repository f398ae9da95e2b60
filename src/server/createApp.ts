import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Db } from "mongodb";
import { file_genstore_payment_v1_payment_service, PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import { paymentServiceRoutes } from "../../gen/genstore/payment/v1/payment_service_routes.js";
import { file_grpc_reflection_v1_reflection, ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_health_v1_health, Health } from "../../gen/health/v1/health_pb.js";
import type { CardDecryptor } from "../crypto/cardDecryptor.js";
import { createGateway, type NodeRequest, type NodeResponse } from "../gateway/createGateway.js";
import { createPaymentUseCases } from "../payments/paymentUseCases.js";
import { createPaymentRepository } from "../store/paymentRepository.js";
import { createHealthServiceImpl } from "./healthService.js";
import { createPaymentServiceImpl, type Logger } from "./paymentServiceImpl.js";
import { createReflectionServiceImpl } from "./reflectionService.js";
import { resolveShopId, shopIdKey } from "./shop.js";
import { toConnectError } from "./errorMapping.js";

export interface AppOptions {
  db: Db;
  cards: CardDecryptor;
  defaultShopId: string;
  maxBodyBytes: number;
  /** Base URL buyers reach us at; known only once the port is bound. */
  publicUrl: () => string;
  log: Logger;
}

/** The services we serve over gRPC and Connect, as health and reflection list them. */
export const servedServices = [PaymentService.typeName, Health.typeName, ServerReflection.typeName] as const;

function sendJson(res: NodeResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  (res as import("node:http").ServerResponse).writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(text);
}

/** Resolves the shop of a Connect or gRPC call from its headers (and a Connect GET's query). */
function shopInterceptor(defaultShopId: string): Interceptor {
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
    return next(req);
  };
}

/** Composes the one request handler: health, the card key, Genstore JSON routes, then Connect/gRPC. */
export function createApp(opts: AppOptions): (req: NodeRequest, res: NodeResponse) => void {
  const useCases = createPaymentUseCases({ repository: createPaymentRepository(opts.db), cards: opts.cards, publicUrl: opts.publicUrl });
  const paymentImpl = createPaymentServiceImpl(useCases, opts.defaultShopId, opts.log);
  const isServing = async () => {
    try {
      await opts.db.command({ ping: 1 });
      return true;
    } catch {
      return false;
    }
  };
  const servedFiles = [file_genstore_payment_v1_payment_service, file_health_v1_health, file_grpc_reflection_v1_reflection];

  const routes = (router: ConnectRouter) => {
    router.service(PaymentService, paymentImpl);
    router.service(Health, createHealthServiceImpl({ services: servedServices, isServing }));
    router.service(ServerReflection, createReflectionServiceImpl(servedFiles, servedServices));
  };
  const connect = connectNodeAdapter({
    routes,
    interceptors: [shopInterceptor(opts.defaultShopId)],
    fallback: (req, res) => sendJson(res as NodeResponse, 404, { error: `no route for ${req.method} ${new URL(req.url ?? "/", "http://x").pathname}` }),
  });
  const gateway = createGateway(PaymentService, paymentImpl as never, paymentServiceRoutes, {
    maxBodyBytes: opts.maxBodyBytes,
    defaultShopId: opts.defaultShopId,
    log: opts.log,
  });

  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (req.method === "GET" && path === "/readyz") {
      void isServing().then((ok) => sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "database unreachable" }));
      return;
    }
    if (req.method === "GET" && path === "/genstore/v1/card-encryption-key") {
      const keys = opts.cards.publicKeys();
      return sendJson(res, 200, { publicKey: keys[0], publicKeys: keys, format: "base64 X.509 SubjectPublicKeyInfo DER, P-256" });
    }
    gateway(req, res).then(
      (handled) => {
        if (!handled) connect(req as never, res as never);
      },
      (err: unknown) => {
        opts.log({ level: "error", msg: "unhandled request failure", error: String(err) });
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      },
    );
  };
}
