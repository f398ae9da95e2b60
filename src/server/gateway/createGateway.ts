import { create, type DescService, type Message } from "@bufbuild/protobuf";
import { createContextValues, createHandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "../../observability/logger.js";
import type { RequestGate } from "../auth/requestGate.js";
import { accessOf } from "../gateInterceptor.js";
import { headersOf, readBody, sendJson, type NodeRequest, type NodeResponse } from "../httpJson.js";
import { requestContextKey, requestIdFrom, requestIdKey } from "../requestContext.js";
import { errorAnswer, fullAnswer, type JsonAnswer } from "./answer.js";
import { decodeRequest } from "./decodeRequest.js";
import { createRouteTable, type RouteBinding } from "./routeTable.js";

export type { RouteBinding };

export interface GatewayOptions {
  maxBodyBytes: number;
  log: Logger;
  /** Authenticates before anything is decoded or written, and names the shop; throws to refuse. */
  gate: RequestGate;
}

type Method = (req: Message, ctx: unknown) => Promise<unknown>;

/**
 * Serves Genstore's JSON routes from a generated route table: path, query and JSON body mapped
 * onto the request message, then the same service implementation that Connect and gRPC use.
 * Answers follow the API page: 200 with every documented field for whatever reached the rules
 * (errorMapping.ts says which errors those are), HTTP errors for the rest. `handle` returns
 * false for paths that are not ours, so the caller can try Connect next.
 */
export function createGateway(service: DescService, impl: ServiceImpl<DescService>, routes: readonly RouteBinding[], opts: GatewayOptions) {
  const table = createRouteTable(routes);
  const methods = impl as unknown as Record<string, Method>;

  async function serve(
    req: NodeRequest,
    binding: RouteBinding,
    url: URL,
    params: Map<string, string>,
    requestId: string,
    seen: { shopId?: string; genstoreId?: string | undefined },
  ): Promise<JsonAnswer> {
    const headers = headersOf(req);
    const body = await readBody(req, opts.maxBodyBytes);
    const rawQuery = (req.url ?? "").split("?").slice(1).join("?");
    const admitted = await opts.gate.admit({ rawQuery, headers, rawBody: body, access: accessOf(binding.method), method: binding.method.name });
    seen.shopId = admitted.shop.shopId;
    const bodySigned = admitted.principal.kind === "genstore" && admitted.principal.proof === "body";
    const { message, genstoreId } = decodeRequest(binding, url, params, body, req.headers["content-type"], bodySigned);
    seen.genstoreId = genstoreId;
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
    const answer = fullAnswer(binding.method.output, create(binding.method.output, (await fn(message, ctx)) as never));
    return { status: 200, body: answer, headers: {}, error: typeof answer.error === "string" ? answer.error : "" };
  }

  async function handle(req: NodeRequest, res: NodeResponse): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://gateway.invalid");
    const route = table.match(url.pathname, req.method ?? "GET");
    if (!route) return false;
    if ("allow" in route) {
      const allow = route.allow.join(", ");
      sendJson(res, 405, { error: `${req.method} is not allowed on ${url.pathname}; use ${allow}` }, { allow });
      return true;
    }
    const { binding } = route;
    const started = Date.now();
    const requestId = requestIdFrom(req.headers["x-request-id"]);
    const seen: { shopId?: string; genstoreId?: string | undefined } = {};
    let answer: JsonAnswer;
    try {
      answer = await serve(req, binding, url, route.params, requestId, seen);
    } catch (err) {
      const failed = errorAnswer(binding.method.output, err);
      if (failed.unexpected) opts.log({ level: "error", msg: "gateway failure", route: binding.pattern, requestId, error: String(err) });
      answer = failed;
    }
    sendJson(res, answer.status, answer.body, { "x-request-id": requestId, ...answer.headers });
    // One line per request: who, what, which Genstore id, how it ended, how long it took.
    opts.log({
      level: answer.status === 503 ? "warn" : answer.status >= 500 ? "error" : "info",
      msg: "request",
      requestId,
      shopId: seen.shopId,
      rpc: binding.method.name,
      route: `${binding.verb} ${binding.pattern}`,
      genstoreId: seen.genstoreId,
      status: answer.status,
      outcome: answer.status === 200 ? (answer.error ? "declined" : "ok") : "refused",
      ...(answer.error ? { error: answer.error } : {}),
      ms: Date.now() - started,
    });
    return true;
  }

  return { handle, label: table.label };
}
