import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type ConnectRouter,
  type ConnectRouterOptions,
} from "@connectrpc/connect";
import { universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { serverCompressions } from "./compression.js";
import { sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";
import { withClientFaults } from "./parseFailures.js";
import { authorityOf, universalRequestOf } from "./universalRequest.js";
import type { GrpcUnaryPath } from "./grpcUnary.js";

/** The request body as it came off the wire, for signatures over the raw bytes. */
export interface RawBody {
  chunks: Uint8Array[];
}

export const rawBodyKey = createContextKey<RawBody | undefined>(undefined, { description: "raw request body" });

export function rawBodyOf(raw: RawBody | undefined): Buffer {
  return Buffer.concat(raw?.chunks ?? []);
}

export interface ConnectHandlerOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  /** Services whose request bodies are kept as received (unary ones: a stream's would grow). */
  keepRawBody: (serviceTypeName: string) => boolean;
  fallback: (req: NodeRequest, res: NodeResponse) => void;
  onError: (err: unknown, rpc: string) => void;
  /** Unary gRPC calls served without Connect's streaming pipeline (grpcUnary.ts). */
  grpcUnary?: GrpcUnaryPath;
}

/**
 * Connect, gRPC and gRPC-web for our services, like connect-node's adapter, with one addition:
 * the bytes of each request body are kept beside it (Connect reads at most readMaxBytes, after
 * decompression too), so the request gate can check a signature over exactly what was sent.
 */
export function createConnectHandler(options: ConnectHandlerOptions) {
  const router = createConnectRouter({ acceptCompression: serverCompressions, ...options });
  options.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));

  return function connectHandler(req: NodeRequest, res: NodeResponse): void {
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    const handler = paths.get(path);
    if (!handler) return options.fallback(req, res);
    // Connect builds the call's URL from the authority: an HTTP/1.0 request may come without one.
    if (authorityOf(req) === undefined) return sendJson(res, 400, { error: "the request names no host (Host header)" });
    const values = createContextValues();
    const uReq = universalRequestOf(req, res, values);
    let body = uReq.body as AsyncIterable<Uint8Array>;
    if (options.keepRawBody(handler.service.typeName)) {
      const raw: RawBody = { chunks: [] };
      values.set(rawBodyKey, raw);
      body = recorded(body, raw);
    }
    const viaConnect = (b: AsyncIterable<Uint8Array>) =>
      handler({ ...uReq, body: b })
        .then(withClientFaults)
        .then((uRes) => universalResponseToNodeResponse(uRes, res as never))
        .catch((reason: unknown) => {
          if (ConnectError.from(reason).code !== Code.Aborted) options.onError(reason, `${handler.service.typeName}/${handler.method.name}`);
        });
    if (options.grpcUnary?.(path, { ...uReq, body }, res, viaConnect)) return;
    void viaConnect(body);
  };
}

async function* recorded(body: AsyncIterable<Uint8Array>, raw: RawBody): AsyncIterable<Uint8Array> {
  for await (const chunk of body) {
    raw.chunks.push(chunk);
    yield chunk;
  }
}
