import type { ServerResponse } from "node:http";
import { decodePathSegment, sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";
import type { Logger } from "../observability/logger.js";
import { isDatabaseUnavailable } from "../runtime/databaseErrors.js";
import { databaseUnavailable, RETRY_AFTER_UNAVAILABLE_S } from "./errorMapping.js";
import { authorityOf } from "./universalRequest.js";

/** One row of the service's HTTP route table. */
export interface HttpRoute {
  /** Bounded metrics label, e.g. "GET /return/{shop}/{payment}". */
  label: string;
  /** Methods served; others get 405. */
  methods: readonly string[];
  /** Matched against the path; each capture group is a path parameter, percent-decoded. */
  pattern: RegExp;
  /** Probes are not counted against a client address's request budget. */
  unlimited?: boolean;
  handle(req: NodeRequest, res: NodeResponse, params: string[]): void | Promise<void>;
}

/** Routes generated from the proto (Genstore JSON, then Connect and gRPC), tried after the table. */
export interface GeneratedRoutes {
  /** The label of a path they serve, or undefined. */
  label(path: string): string | undefined;
  handle(req: NodeRequest, res: NodeResponse): void | Promise<void>;
}

export interface HttpHandlerOptions {
  routes: readonly HttpRoute[];
  generated: GeneratedRoutes;
  /** Per client address, before any work: ms to wait, or 0. */
  admitAddress: (address: string) => number;
  observe: (label: string, method: string, status: number, seconds: number) => void;
  log: Logger;
}

/**
 * Methods a metric may name; any other is "other". HTTP/2 lets a client send any token as its
 * method, and each would otherwise be a series kept (and scraped) for the process's life.
 */
const labelledMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

const securityHeaders: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
};

/**
 * The one request handler of the port: security headers, the per-address limit, the route
 * table, then the generated routes; one metric observation per request with a bounded label.
 */
export function createHttpHandler(opts: HttpHandlerOptions) {
  const fail = (res: NodeResponse) => (err: unknown) => {
    const outage = isDatabaseUnavailable(err);
    opts.log({ level: outage ? "warn" : "error", msg: outage ? "database unavailable" : "unhandled request failure", error: String(err) });
    if (res.headersSent) res.end();
    else if (outage) sendJson(res, 503, { error: databaseUnavailable().message }, { "retry-after": String(RETRY_AFTER_UNAVAILABLE_S) });
    else sendJson(res, 500, { error: "internal error" });
  };

  return function handler(req: NodeRequest, res: NodeResponse): void {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const method = req.method ?? "GET";
    const started = process.hrtime.bigint();
    for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
    let route: HttpRoute | undefined;
    let match: RegExpExecArray | null = null;
    for (const r of opts.routes) {
      match = r.pattern.exec(path);
      if (match) {
        route = r;
        break;
      }
    }
    const label = route?.label ?? opts.generated.label(path) ?? "other";
    const methodLabel = labelledMethods.has(method) ? method : "other";
    res.once("finish", () => opts.observe(label, methodLabel, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
    if (!route?.unlimited && opts.admitAddress(req.socket?.remoteAddress ?? "unknown") > 0) {
      return sendJson(res, 429, { error: "too many requests from this address; slow down and retry" }, { "retry-after": "1" });
    }
    // Routes build URLs from the target and the host: ones no URL can hold are the client's fault.
    const malformed = unparsable(req);
    if (malformed) return sendJson(res, 400, { error: malformed });
    try {
      if (!route || !match) {
        Promise.resolve(opts.generated.handle(req, res)).catch(fail(res));
        return;
      }
      if (!route.methods.includes(method))
        return sendJson(res, 405, { error: `${method} is not allowed on ${path}; use ${route.methods.join(", ")}` }, { allow: route.methods.join(", ") });
      const params = match.slice(1).map((p) => decodePathSegment(p ?? ""));
      if (params.some((p) => p === undefined)) return sendJson(res, 400, { error: "malformed percent-encoding in the path" });
      Promise.resolve(route.handle(req, res, params as string[])).catch(fail(res));
    } catch (err) {
      fail(res)(err);
    }
  };
}

/** What makes a request's target or host (Host, :authority) unusable in a URL, if anything. */
function unparsable(req: NodeRequest): string | undefined {
  // "//[" and the like read as a host of their own, not a path.
  if (!URL.canParse(req.url ?? "/", "http://localhost")) return "the request target is not a valid path";
  const authority = authorityOf(req);
  if (authority !== undefined && !URL.canParse(`http://${authority}`)) return "the request's host (Host header) is not a valid host name";
  return undefined;
}

/** Writes a prepared text answer (metrics, pages). */
export function sendText(res: NodeResponse, status: number, contentType: string, body: string): void {
  (res as ServerResponse).writeHead(status, { "content-type": contentType, "content-length": String(Buffer.byteLength(body)), "cache-control": "no-store" });
  res.end(body);
}
