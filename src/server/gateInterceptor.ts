import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import type { RequestGate } from "./auth/requestGate.js";
import { rawBodyKey, rawBodyOf } from "./connectHandler.js";
import { toConnectError } from "./errorMapping.js";
import { servedDirectKey } from "./grpcUnary.js";
import type { Logger } from "../observability/logger.js";
import { requestContextKey, requestIdFrom, requestIdKey } from "./requestContext.js";

/** "read" for methods declared free of side effects in the proto, else "write". */
export function accessOf(method: { idempotency: MethodOptions_IdempotencyLevel }): "read" | "write" {
  return method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS ? "read" : "write";
}

/**
 * Every Connect and gRPC call passes the request gate, as the Genstore JSON routes do:
 * PaymentService calls are authenticated (Genstore's signature or an internal token) and take
 * their shop from it; operators' services need the ADMIN_TOKEN bearer; one log line each.
 */
export function createGateInterceptor(gate: RequestGate, operatorServices: readonly string[], log: Logger): Interceptor {
  return (next) => async (req) => {
    const started = Date.now();
    const requestId = requestIdFrom(req.header.get("x-request-id"));
    const rpc = `${req.service.typeName}/${req.method.name}`;
    // Which pipeline served a gRPC call: Connect's, or the unary path beside it (grpcUnary.ts).
    const direct = req.contextValues.get(servedDirectKey) ? { direct: true } : {};
    req.contextValues.set(requestIdKey, requestId);
    let shopId: string | undefined;
    try {
      if (req.service.typeName === PaymentService.typeName) {
        const admitted = await gate.admit({
          rawQuery: new URL(req.url).search.slice(1),
          headers: req.header,
          rawBody: rawBodyOf(req.contextValues.get(rawBodyKey)),
          access: accessOf(req.method),
          method: req.method.name,
        });
        shopId = admitted.shop.shopId;
        req.contextValues.set(requestContextKey, { requestId, shop: admitted.shop, principal: admitted.principal });
      } else if (operatorServices.includes(req.service.typeName)) {
        gate.admitOperator(req.header);
      }
      const res = await next(req);
      log({
        level: "info",
        msg: "request",
        requestId,
        shopId,
        rpc,
        protocol: req.requestMethod === "GET" ? "connect-get" : req.header.get("content-type")?.split(";")[0],
        code: "ok",
        ms: Date.now() - started,
        ...direct,
      });
      return res;
    } catch (err) {
      const ce = err instanceof ConnectError ? err : toConnectError(err);
      log({
        level: ce.code === Code.Internal ? "error" : ce.code === Code.Unavailable ? "warn" : "info",
        msg: "request",
        requestId,
        shopId,
        rpc,
        code: Code[ce.code],
        error: ce.rawMessage,
        ms: Date.now() - started,
        ...direct,
      });
      throw ce;
    }
  };
}
