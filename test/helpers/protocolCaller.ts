import { toJson, create, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { paymentServiceRoutes } from "../../gen/genstore/payment/v1/payment_service_routes";
import { createGrpcJsClient, grpcUnary, GrpcCallError } from "./grpcJsClient";

/** The four ways a PaymentService call reaches the port. */
export const protocols = ["json", "connect-json", "connect-binary", "grpc"] as const;
export type Protocol = (typeof protocols)[number];

/** How a call authenticates: a query string (URL, or X-Genstore-Query where there is none) and headers. */
export interface CallAuth {
  query?: string;
  headers?: Record<string, string>;
}

export type CallResult = { ok: true; body: Record<string, unknown> } | { ok: false; code: string; message: string; httpStatus?: number };

const codeOfHttp: Record<number, string> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
  409: "already_exists",
  413: "resource_exhausted",
  422: "failed_precondition",
  429: "resource_exhausted",
};
const codeName = (c: Code) => Code[c].replace(/[A-Z]/g, (m, i: number) => (i ? "_" : "") + m.toLowerCase());

/**
 * Calls PaymentService over Genstore JSON (fetch), Connect JSON over HTTP/1.1 (the query on the
 * URL), Connect binary over HTTP/2 and gRPC (@grpc/grpc-js), the query then in X-Genstore-Query.
 */
export function createProtocolCaller(baseUrl: string, port: number) {
  const connectJson: Client<typeof PaymentService> = createClient(PaymentService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  const connectBinary: Client<typeof PaymentService> = createClient(
    PaymentService,
    createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  );
  const grpcClient = createGrpcJsClient(PaymentService, `127.0.0.1:${port}`);

  async function json(method: DescMethod, request: object, auth: CallAuth): Promise<CallResult> {
    const message = toJson(method.input, create(method.input, request as never)) as Record<string, unknown>;
    const bindings = paymentServiceRoutes.filter((r) => r.method === method);
    const binding = bindings.find((b) => b.pattern.includes("{")) ?? bindings[0]!;
    const path = binding.pattern.replace(/\{(\w+)\}/, (_m, name: string) =>
      encodeURIComponent(String(message[name.replace(/_(\w)/g, (_x, c: string) => c.toUpperCase())])),
    );
    const res = await fetch(`${baseUrl}${path}${auth.query ? `?${auth.query}` : ""}`, {
      method: binding.verb,
      headers: { "content-type": "application/json", ...auth.headers },
      ...(binding.verb === "POST" ? { body: JSON.stringify(message) } : {}),
    });
    const body = (await res.json()) as Record<string, unknown>;
    return res.status === 200
      ? { ok: true, body }
      : { ok: false, code: codeOfHttp[res.status] ?? `http_${res.status}`, message: String(body.error), httpStatus: res.status };
  }

  async function connect(client: Client<typeof PaymentService>, method: DescMethod, request: object, auth: CallAuth, queryInUrl: boolean): Promise<CallResult> {
    const headers: Record<string, string> = { ...auth.headers };
    if (auth.query && !queryInUrl) headers["x-genstore-query"] = auth.query;
    const fn = (client as unknown as Record<string, (req: object, opts: object) => Promise<object>>)[method.localName]!;
    try {
      const res = await fn.call(client, request, { headers });
      return { ok: true, body: toJson(method.output, create(method.output, res as never)) as Record<string, unknown> };
    } catch (err) {
      const ce = ConnectError.from(err);
      return { ok: false, code: codeName(ce.code), message: ce.rawMessage };
    }
  }

  /** Connect JSON with the signed query on the URL itself, as a Genstore-like caller would send it. */
  async function connectWithUrlQuery(method: DescMethod, request: object, auth: CallAuth): Promise<CallResult> {
    const client = createClient(
      PaymentService,
      createConnectTransport({
        baseUrl,
        httpVersion: "1.1",
        interceptors: [(next) => (req) => next({ ...req, url: auth.query ? `${req.url}?${auth.query}` : req.url })],
      }),
    );
    return connect(client, method, request, { ...(auth.headers ? { headers: auth.headers } : {}) }, true);
  }

  async function viaGrpc(method: DescMethod, request: object, auth: CallAuth): Promise<CallResult> {
    const md: Record<string, string> = { ...auth.headers, ...(auth.query ? { "x-genstore-query": auth.query } : {}) };
    try {
      const res = await grpcUnary(grpcClient, method, request, md);
      return { ok: true, body: toJson(method.output, res as never) as Record<string, unknown> };
    } catch (err) {
      if (!(err instanceof GrpcCallError)) throw err;
      return { ok: false, code: grpc.status[err.code].toLowerCase(), message: err.details };
    }
  }

  return {
    call(protocol: Protocol, method: DescMethod, request: object, auth: CallAuth = {}): Promise<CallResult> {
      switch (protocol) {
        case "json":
          return json(method, request, auth);
        case "connect-json":
          return connectWithUrlQuery(method, request, auth);
        case "connect-binary":
          return connect(connectBinary, method, request, auth, false);
        case "grpc":
          return viaGrpc(method, request, auth);
      }
    },
    /** Connect JSON (HTTP/1.1) with the query in X-Genstore-Query instead of the URL. */
    connectJsonWithHeader: (method: DescMethod, request: object, auth: CallAuth) => connect(connectJson, method, request, auth, false),
    close() {
      grpcClient.close();
    },
  };
}
