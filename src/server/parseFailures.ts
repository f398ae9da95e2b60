import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";

/**
 * connect-es reports a request message that is not valid protobuf as INTERNAL ("parse binary:
 * …"), while it reports unparsable JSON as INVALID_ARGUMENT. Either is the client's fault: on our
 * port it is INVALID_ARGUMENT (HTTP 400), so that no client can raise our 5xx count or alerts.
 */
const parseFailure = /^parse binary: /;

/** The error as this port answers it: a failed parse of the request is the client's fault. */
export function asClientFault(err: ConnectError): ConnectError {
  return err.code === Code.Internal && parseFailure.test(err.rawMessage) ? new ConnectError(err.rawMessage, Code.InvalidArgument, err.metadata) : err;
}

/** Connect's answer with a failed parse turned into INVALID_ARGUMENT (gRPC trailers; Connect unary JSON errors). */
export async function withClientFaults(uRes: UniversalServerResponse): Promise<UniversalServerResponse> {
  const status = uRes.trailer?.get("grpc-status");
  if (status === String(Code.Internal) && parseFailure.test(decodeURIComponent(uRes.trailer?.get("grpc-message") ?? ""))) {
    uRes.trailer!.set("grpc-status", String(Code.InvalidArgument));
    return uRes;
  }
  // A Connect unary error: HTTP 500 with a small, uncompressed JSON body.
  if (uRes.status !== 500 || uRes.header?.get("content-encoding") || !uRes.body) return uRes;
  const chunks: Uint8Array[] = [];
  for await (const c of uRes.body) chunks.push(c);
  const text = Buffer.concat(chunks).toString("utf8");
  const error = jsonObject(text);
  const fault = error?.code === "internal" && typeof error.message === "string" && parseFailure.test(error.message);
  if (!fault) return { ...uRes, body: once(Buffer.concat(chunks)) };
  const bytes = Buffer.from(JSON.stringify({ ...error, code: "invalid_argument" }));
  uRes.header?.set("content-length", String(bytes.byteLength));
  return { ...uRes, status: 400, body: once(bytes) };
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}
