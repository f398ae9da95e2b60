import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, createHandlerContext, createServiceImplSpec, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import {
  compressedFlag,
  compressionNegotiate,
  createMethodSerializationLookup,
  encodeEnvelope,
  invokeUnaryImplementation,
  validateReadWriteMaxBytes,
  type Compression,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import {
  grpcStatusOk,
  headerAcceptEncoding,
  headerEncoding,
  headerTimeout,
  parseContentType,
  parseTimeout,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import type { Http2ServerResponse } from "node:http2";
import type { NodeResponse } from "./httpJson.js";
import { asClientFault } from "./parseFailures.js";

export interface GrpcUnaryOptions<S extends DescService> {
  service: S;
  impl: ServiceImpl<S>;
  interceptors: Interceptor[];
  readMaxBytes: number;
  acceptCompression: Compression[];
  /** A failure of our own (not the client hanging up), as Connect's path reports its handler's. */
  onError: (err: unknown, rpc: string) => void;
}

/** Set on the calls this path serves, for their request log line (gateInterceptor.ts). */
export const servedDirectKey = createContextKey(false, { description: "served by the unary gRPC path" });

/** Serves one call, or hands it to Connect with the body read so far put back in front. */
export type GrpcUnaryPath = (
  requestPath: string,
  uReq: UniversalServerRequest,
  res: NodeResponse,
  toConnect: (body: AsyncIterable<Uint8Array>) => void,
) => boolean;

const callEnded = new ConnectError("the call ended", Code.Canceled);

/**
 * gRPC unary calls of one service without Connect's streaming pipeline. Connect runs a unary gRPC
 * call through a dozen async-iterable stages; on the bench machine that cost 1.1-1.3 ms of CPU
 * per call over the JSON route (README, Performance). The common shape (binary, uncompressed,
 * one message) is served here with Connect's own parts: its interceptors (the request gate),
 * handler context, serialization, compression choice and trailer status. Any other shape, and a
 * body that is not exactly one well-formed message within the limit, goes to Connect as it
 * came, so every protocol error is Connect's own answer.
 */
export function createGrpcUnaryPath<S extends DescService>(options: GrpcUnaryOptions<S>): GrpcUnaryPath {
  const limits = validateReadWriteMaxBytes(options.readMaxBytes, undefined, undefined);
  const methods = new Map(
    Object.values(createServiceImplSpec(options.service, options.impl).methods)
      .filter((spec) => spec.kind === "unary")
      .map((spec) => [
        `/${options.service.typeName}/${spec.method.name}`,
        { spec, serialization: createMethodSerializationLookup(spec.method, undefined, undefined, limits) },
      ]),
  );

  return (requestPath, uReq, res, toConnect) => {
    const entry = methods.get(requestPath);
    if (!entry || uReq.method !== "POST" || uReq.httpVersion !== "2.0" || parseContentType(uReq.header.get("content-type"))?.binary !== true) return false;
    const encoding = uReq.header.get(headerEncoding);
    if (encoding !== null && encoding !== "identity") return false;
    const timeout = parseTimeout(uReq.header.get(headerTimeout), Number.MAX_SAFE_INTEGER);
    if (timeout.error) return false;
    // The deadline runs from the call's arrival, as Connect's does, not from the end of its body.
    const arrived = Date.now();
    const rpc = `${options.service.typeName}/${entry.spec.method.name}`;
    const serve = async (read: Read) => {
      if (!read.message) return toConnect(read.replay);
      const { spec, serialization } = entry;
      uReq.contextValues?.set(servedDirectKey, true);
      const context = createHandlerContext({
        ...spec,
        service: options.service,
        requestMethod: uReq.method,
        protocolName: "grpc",
        timeoutMs: timeout.timeoutMs === undefined ? undefined : Math.max(0, timeout.timeoutMs - (Date.now() - arrived)),
        requestSignal: uReq.signal,
        requestHeader: uReq.header,
        url: uReq.url,
        responseHeader: { "content-type": "application/grpc+proto" },
        responseTrailer: { "grpc-status": grpcStatusOk },
        contextValues: uReq.contextValues,
      });
      const compression = compressionNegotiate(options.acceptCompression, encoding, uReq.header.get(headerAcceptEncoding), headerAcceptEncoding);
      if (compression.response) context.responseHeader.set(headerEncoding, compression.response.name);
      let body: Uint8Array | undefined;
      try {
        const input = serialization.getI(true).parse(read.message);
        const output = await invokeUnaryImplementation(spec, context, input, options.interceptors);
        body = await envelope(serialization.getO(true).serialize(output), compression.response, limits.compressMinBytes);
      } catch (err) {
        setTrailerStatus(
          context.responseTrailer,
          err instanceof ConnectError ? asClientFault(err) : new ConnectError("internal error", Code.Internal, undefined, undefined, err),
        );
      } finally {
        // With a reason: without one, AbortController builds a DOMException and its stack per call.
        context.abort(callEnded);
      }
      send(res, context.responseHeader, body, context.responseTrailer, (err) => options.onError(err, rpc));
    };
    // A body the client broke off ends the call; anything else that fails here is ours, and said.
    void readEnvelope(uReq.body as AsyncIterable<Uint8Array>, limits.readMaxBytes)
      .then(serve, () => res.destroy())
      .catch((err: unknown) => {
        options.onError(err, rpc);
        res.destroy();
      });
    return true;
  };
}

interface Read {
  /** The one message's bytes, when the body was exactly one uncompressed envelope within the limit. */
  message?: Uint8Array;
  /** The body as received, for Connect, when it was not. */
  replay: AsyncIterable<Uint8Array>;
}

/** Reads a body of at most one envelope's worth; anything else is left for Connect to judge. */
async function readEnvelope(body: AsyncIterable<Uint8Array>, readMaxBytes: number): Promise<Read> {
  const it = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let done = false;
  while (size <= readMaxBytes + 5) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    chunks.push(r.value);
    size += r.value.byteLength;
  }
  const replay = (async function* () {
    yield* chunks;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  if (!done || size < 5) return { replay };
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(1);
  if (view.getUint8(0) !== 0 || length > readMaxBytes || size !== 5 + length) return { replay };
  return { message: bytes.subarray(5), replay };
}

async function envelope(data: Uint8Array, compression: Compression | null, compressMinBytes: number): Promise<Uint8Array> {
  if (compression === null || data.byteLength < compressMinBytes) return encodeEnvelope(0, data);
  return encodeEnvelope(compressedFlag, await compression.compress(data));
}

/** As connect-node writes a gRPC answer; a client already gone is not an error (Connect's Aborted). */
function send(response: NodeResponse, header: Headers, body: Uint8Array | undefined, trailer: Headers, onError: (err: unknown) => void): void {
  // Only HTTP/2 calls come here (the path's first check).
  const res = response as Http2ServerResponse;
  if (res.stream.destroyed || res.stream.closed) return;
  try {
    res.writeHead(200, Object.fromEntries(header));
    if (body) res.write(body);
    res.addTrailers(Object.fromEntries(trailer));
    res.end();
  } catch (err) {
    if (!res.stream.destroyed && !res.stream.closed) onError(err);
    res.destroy();
  }
}
