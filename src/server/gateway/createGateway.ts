import { create, fromJson, toJson, type DescMethod, type DescService, type Message } from "@bufbuild/protobuf";
import { ConnectError, createContextValues, createHandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { PaymentError, invalidArgument } from "../../payments/errors.js";
import { httpStatusOf, toConnectError } from "../errorMapping.js";
import { decodePathSegment, headersOf, HttpError, readBody, sendJson, type NodeRequest, type NodeResponse } from "../httpJson.js";
import type { RequestGate } from "../auth/requestGate.js";
import { accessOf } from "../gateInterceptor.js";
import { requestContextKey, requestIdFrom, requestIdKey } from "../requestContext.js";
import { genstoreJson, normalizeJson } from "./jsonCoercion.js";

/** One row of a generated route table (gen/…/*_routes.ts). */
export interface RouteBinding {
  readonly verb: string;
  readonly pattern: string;
  readonly body: string;
  readonly method: DescMethod;
}

export type { NodeRequest, NodeResponse };

export interface GatewayOptions {
  maxBodyBytes: number;
  log: (entry: Record<string, unknown>) => void;
  /** Authenticates before anything is decoded or written, and names the shop; throws to refuse. */
  gate: RequestGate;
}

/** Genstore's id for the operation a request names, for the request log line. */
function genstoreIdOf(json: Record<string, unknown>): string | undefined {
  for (const k of ["captureId", "voidId", "refundId", "paymentId"]) if (typeof json[k] === "string") return json[k] as string;
  return undefined;
}

interface CompiledRoute {
  binding: RouteBinding;
  regex: RegExp;
  /** Path variables in order, as proto field names. */
  variables: string[];
}

/** Compiles "/a/{payment_id}" into a regex; only whole-segment variables are supported. */
function compile(binding: RouteBinding): CompiledRoute {
  const variables: string[] = [];
  const source = binding.pattern
    .split("/")
    .map((segment) => {
      const m = /^\{([a-z_][a-z0-9_]*)(=\*)?\}$/.exec(segment);
      if (m?.[1]) {
        if (!binding.method.input.fields.some((f) => f.name === m[1])) {
          throw new Error(`route ${binding.pattern}: ${binding.method.input.typeName} has no field ${m[1]}`);
        }
        variables.push(m[1]);
        return "([^/]+)";
      }
      if (/[{}*]/.test(segment)) throw new Error(`route ${binding.pattern}: unsupported path template segment ${segment}`);
      return segment.replace(/[.+?^$()[\]\\|]/g, "\\$&");
    })
    .join("/");
  return { binding, regex: new RegExp(`^${source}/?$`), variables };
}

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined || value === "") return true; // absent: try to read it as JSON
  const type = value.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || type.endsWith("+json");
}

function parseBody(body: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (body.length === 0) return {};
  if (!isJsonContentType(contentType)) throw new HttpError(415, `content type ${contentType} is not supported: send application/json`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw invalidArgument(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw invalidArgument("request body must be a JSON object");
  return parsed as Record<string, unknown>;
}

/**
 * Serves Genstore's JSON routes from a generated route table (design §2.1–2.3): path, query and
 * JSON body mapped onto the request message, then the same service implementation that Connect
 * and gRPC use. `handle` returns false for paths that are not ours, so the caller can try Connect next.
 */
export function createGateway(service: DescService, impl: ServiceImpl<DescService>, routes: readonly RouteBinding[], opts: GatewayOptions) {
  const compiled = routes.map(compile);
  const methods = impl as unknown as Record<string, (req: Message, ctx: unknown) => Promise<unknown>>;

  /** The route pattern a path matches, as a bounded metrics label. */
  function label(path: string): string | undefined {
    const hit = compiled.find((r) => r.regex.test(path));
    return hit ? `${hit.binding.verb} ${hit.binding.pattern}` : undefined;
  }

  async function handle(req: NodeRequest, res: NodeResponse): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://gateway.invalid");
    const matches = compiled.map((r) => ({ r, m: r.regex.exec(url.pathname) })).filter((x) => x.m !== null);
    if (matches.length === 0) return false;
    const hit = matches.find((x) => x.r.binding.verb === req.method);
    if (!hit || !hit.m) {
      const allow = [...new Set(matches.map((x) => x.r.binding.verb))].join(", ");
      sendJson(res, 405, { error: `${req.method} is not allowed on ${url.pathname}; use ${allow}` }, { allow });
      return true;
    }
    const { binding, variables } = hit.r;
    const started = Date.now();
    let status = 200;
    let shopId: string | undefined;
    let genstoreId: string | undefined;
    let error: string | undefined;
    const headers = headersOf(req);
    const requestId = requestIdFrom(headers);
    try {
      const body = await readBody(req, opts.maxBodyBytes);
      const admitted = await opts.gate.admit({
        rawQuery: (req.url ?? "").split("?").slice(1).join("?"),
        headers,
        rawBody: body,
        access: accessOf(binding.method),
        method: binding.method.name,
      });
      shopId = admitted.shop.shopId;

      // A GET takes its parameters from the query and also from a JSON body (the API page shows both).
      const json: Record<string, unknown> = binding.body === "*" || body.length > 0 ? parseBody(body, req.headers["content-type"]) : {};
      const input = binding.method.input;
      if (binding.body !== "*") {
        for (const [k, v] of url.searchParams) {
          const field = input.fields.find((f) => f.jsonName === k || f.name === k);
          if (field && field.fieldKind === "scalar") json[field.jsonName] = v;
        }
      }
      variables.forEach((name, i) => {
        const field = input.fields.find((f) => f.name === name);
        if (!field) return;
        const value = decodePathSegment(hit.m?.[i + 1] ?? "");
        if (value === undefined) throw invalidArgument("malformed percent-encoding in the path");
        json[field.jsonName] = value;
      });
      genstoreId = genstoreIdOf(json);

      let message: Message;
      try {
        message = fromJson(input, normalizeJson(input, json), { ignoreUnknownFields: true });
      } catch (err) {
        if (err instanceof PaymentError) throw err;
        throw invalidArgument(`request body does not match ${input.name}: ${(err as Error).message}`);
      }
      const ctx = createHandlerContext({
        service,
        method: binding.method,
        protocolName: "genstore-json",
        requestMethod: req.method ?? "POST",
        url: url.toString(),
        requestHeader: headers,
        contextValues: createContextValues()
          .set(requestContextKey, { requestId, shop: admitted.shop, principal: admitted.principal })
          .set(requestIdKey, requestId),
      });
      const fn = methods[binding.method.localName];
      if (!fn) throw new Error(`no implementation for ${binding.method.name}`);
      const output = create(binding.method.output, (await fn(message, ctx)) as never);
      const answer = genstoreJson(binding.method.output, toJson(binding.method.output, output)) as Record<string, unknown>;
      if (typeof answer.error === "string") error = answer.error;
      sendJson(res, 200, answer, { "x-request-id": requestId });
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        error = err.message;
        sendJson(res, status, { error: err.message }, { "x-request-id": requestId, ...(status === 413 ? { connection: "close" } : {}) });
      } else {
        const ce: ConnectError = toConnectError(err);
        status = httpStatusOf(ce.code);
        error = ce.rawMessage;
        if (status >= 500 && !(err instanceof ConnectError))
          opts.log({ level: "error", msg: "gateway failure", route: binding.pattern, requestId, error: String(err) });
        const retryAfter: Record<string, string> = err instanceof PaymentError && err.code === "rate_limited" ? { "retry-after": "1" } : {};
        sendJson(res, status, { error: ce.rawMessage }, { "x-request-id": requestId, ...retryAfter });
      }
    }
    // One line per request: who, what, which Genstore id, how it ended, how long it took.
    opts.log({
      level: status >= 500 ? "error" : "info",
      msg: "request",
      requestId,
      shopId,
      rpc: binding.method.name,
      route: `${binding.verb} ${binding.pattern}`,
      genstoreId,
      status,
      outcome: status === 200 ? (error ? "declined" : "ok") : "refused",
      ...(error ? { error } : {}),
      ms: Date.now() - started,
    });
    return true;
  }

  return { handle, label };
}
