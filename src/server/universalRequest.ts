import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { headerTimeout as connectTimeout, parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { headerTimeout as grpcTimeout, parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import type { Http2ServerRequest } from "node:http2";
import type { NodeRequest, NodeResponse } from "./httpJson.js";

/**
 * Why a call's signal fires when its request simply ends: one object, made once. connect-node's
 * own conversion aborts without a reason, and AbortController then builds a DOMException with its
 * stack for every call (with Connect's own, 0.25 ms of CPU per gRPC call on the bench machine).
 */
const ended = new ConnectError("the request ended", Code.Canceled);

/** HTTP/2 reset codes a client or proxy sends, as the codes connect-node gives them. */
const resetCodes: Record<number, Code> = {
  1: Code.Internal,
  2: Code.Internal,
  3: Code.Internal,
  4: Code.Internal,
  6: Code.Internal,
  7: Code.Unavailable,
  8: Code.Canceled,
  9: Code.Internal,
  10: Code.Internal,
  11: Code.ResourceExhausted,
  12: Code.PermissionDenied,
  13: Code.PermissionDenied,
};

/** Node's error codes along an error's cause chain. */
function codesOf(err: unknown): unknown[] {
  const codes: unknown[] = [];
  // Not instanceof Error: errors from another realm (a vm context) are errors too.
  for (let e = err, depth = 0; typeof e === "object" && e !== null && depth < 10; e = (e as { cause?: unknown }).cause, depth++)
    codes.push((e as { code?: unknown }).code);
  return codes;
}

/** connect-node's rule: a hang-up is Aborted, an unreachable peer Unavailable, anything else Internal. */
function fromNodeError(err: unknown): ConnectError {
  const codes = codesOf(err);
  const hungUp = ["ERR_STREAM_WRITE_AFTER_END", "ERR_STREAM_DESTROYED", "ERR_HTTP2_INVALID_STREAM", "ECONNRESET"].some((c) => codes.includes(c));
  const unreachable = ["ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED"].some((c) => codes.includes(c));
  const ce = ConnectError.from(err, hungUp ? Code.Aborted : unreachable ? Code.Unavailable : Code.Internal);
  if (ce !== err) ce.cause = err;
  return ce;
}

/**
 * The longest timer Node sets (about 24.8 days). A longer one fires after 1 ms, with a warning on
 * stderr, so a valid deadline of years (grpc-timeout allows 8 digits of hours) would end a
 * streaming call at once.
 */
const longestTimerMs = 2 ** 31 - 1;

/** Drops a deadline no timer can hold: no call of ours lasts that long, so it is no deadline. */
function dropEndlessDeadline(header: Headers, name: string, parse: (value: string | null, maxMs: number) => { timeoutMs?: number; error?: unknown }): void {
  const t = parse(header.get(name), longestTimerMs);
  // Over the bound, Connect's parsers give the value with an error; malformed ones, no value.
  if (t.error !== undefined && t.timeoutMs !== undefined) header.delete(name);
}

function headerOf(req: NodeRequest): Headers {
  const header = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith(":") || v === undefined) continue;
    if (Array.isArray(v)) for (const e of v) header.append(k, e);
    else header.append(k, String(v));
  }
  dropEndlessDeadline(header, grpcTimeout, parseGrpcTimeout);
  dropEndlessDeadline(header, connectTimeout, parseConnectTimeout);
  return header;
}

/** The host a request names (HTTP/2's :authority, else Host); an HTTP/1.0 request may name none. */
export function authorityOf(req: NodeRequest): string | undefined {
  return ("authority" in req ? req.authority : req.headers.host) || undefined;
}

/** A Node request as Connect's handlers take it: connect-node's conversion, with a reason for every abort. */
export function universalRequestOf(req: NodeRequest, res: NodeResponse, contextValues: ContextValues): UniversalServerRequest {
  const controller = new AbortController();
  if ("stream" in req) {
    const h2 = req as Http2ServerRequest;
    h2.once("close", () => {
      const rst = h2.stream.rstCode;
      const code = rst === undefined ? undefined : resetCodes[rst];
      controller.abort(code === undefined ? ended : new ConnectError(`http/2 stream closed with error code 0x${rst!.toString(16)}`, code));
    });
  } else {
    const onError = (err: unknown) => {
      res.off("close", onClose);
      controller.abort(fromNodeError(err));
    };
    const onClose = () => {
      req.off("error", onError);
      controller.abort(req.errored ? fromNodeError(req.errored) : ended);
    };
    req.once("error", onError);
    // Node closes the request once its body is read: the response's close is the call's end.
    res.once("close", onClose);
  }
  const authority = authorityOf(req);
  if (authority === undefined) throw new ConnectError("unable to determine request authority from Node.js server request", Code.Internal);
  const encrypted = "encrypted" in req.socket && req.socket.encrypted;
  return {
    httpVersion: req.httpVersion,
    method: req.method ?? "",
    url: new URL(req.url ?? "", `${encrypted ? "https" : "http"}://${authority}`).toString(),
    header: headerOf(req),
    body: req as AsyncIterable<Uint8Array>,
    signal: controller.signal,
    contextValues,
  };
}
