import { createHmac } from "node:crypto";
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { gzipSync } from "node:zlib";
import { create, fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import { CreateOffsitePaymentRequestSchema, GetPaymentRequestSchema, GetPaymentResponseSchema } from "../../gen/genstore/payment/v1/payment_service_pb";
import { PaymentStatus } from "../../gen/genstore/payment/v1/common_pb";
import { normalizeJson } from "../../src/server/gateway/jsonCoercion";
import examples from "../fixtures/apiPageExamples.json";
import { uniqueId } from "../helpers/payments";
import { countAllDocuments, startTestServer, type TestServer } from "../helpers/testServer";

// src/server/grpcUnary.ts serves the common unary gRPC call without Connect's pipeline; every
// other shape goes to Connect. Raw HTTP/2 here, so that each byte on the wire is the test's.
const secret = "cs_test_grpc_unary_0123456789";
const service = "/genstore.payment.v1.PaymentService";

let server: TestServer;
let session: ClientHttp2Session;
beforeAll(async () => {
  server = await startTestServer({ background: false, security: { genstoreClientSecret: secret, requireSignature: true } });
  session = http2Connect(server.url);
});
afterAll(async () => {
  session.close();
  await server.stop();
});

interface Answer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  /** How its request log line says it was served: by the unary path, by Connect, or not logged. */
  servedBy: "unary path" | "connect" | "no log line";
}

function frame(message: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt8(flags, 0);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

const sign = (body: Buffer) => createHmac("sha256", secret).update(body).digest("hex");

let calls = 0;

/** One call; `pieces` > 0 writes the body that many bytes at a time. */
function call(method: string, body: Buffer, headers: Record<string, string> = {}, pieces = 0): Promise<Answer> {
  const requestId = `grpc-unary-${process.pid}-${++calls}`;
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": `${service}/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
      "x-request-id": requestId,
      "x-genstore-hmac-sha256": sign(body),
      ...headers,
    });
    let responseHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (responseHeaders = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const line = server.logs.find((l) => l.msg === "request" && l.requestId === requestId);
      const servedBy = !line ? "no log line" : line.direct === true ? "unary path" : "connect";
      resolve({ headers: responseHeaders, trailers, body: Buffer.concat(chunks), servedBy });
    });
    stream.on("error", reject);
    if (pieces > 0) for (let i = 0; i < body.length; i += pieces) stream.write(body.subarray(i, i + pieces));
    stream.end(pieces > 0 ? undefined : body);
  });
}

/** What an answer says, without what differs between any two answers (the date). */
function said(a: Answer) {
  const { date: _date, ...headers } = a.headers;
  return { headers, trailers: a.trailers, body: a.body.toString("hex") };
}

/** The API page's offsite payment as the protobuf message a gRPC client sends. */
function offsiteRequest(paymentId: string) {
  const body = { ...JSON.parse(examples.offsitePayment), paymentId };
  return fromJson(CreateOffsitePaymentRequestSchema, normalizeJson(CreateOffsitePaymentRequestSchema, body), { ignoreUnknownFields: true });
}
const offsiteBytes = (paymentId: string) => toBinary(CreateOffsitePaymentRequestSchema, offsiteRequest(paymentId));

const getPayment = (paymentId: string) => toBinary(GetPaymentRequestSchema, create(GetPaymentRequestSchema, { paymentId }));

test("a call answered on the fast path says exactly what Connect says for it, error or not", async () => {
  const offsite = offsiteRequest(uniqueId("PI"));
  const served = ["unary path", "connect"];
  const calls: [string, Uint8Array, string[]][] = [
    ["GetPayment", getPayment(uniqueId("PI")), served],
    ["CreateOffsitePayment", toBinary(CreateOffsitePaymentRequestSchema, offsite), served],
    ["CreateOffsitePayment", toBinary(CreateOffsitePaymentRequestSchema, { ...offsite, amount: "-1" }), served],
    // Not a message at all: both fail to parse it before the gate (no request log line), alike.
    ["CreateOffsitePayment", Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), ["no log line", "no log line"]],
  ];
  for (const [method, message, servedBy] of calls) {
    const fast = await call(method, frame(message), { "grpc-accept-encoding": "identity,deflate,gzip" });
    // A compressed request is not the fast path's shape: Connect answers it, from the same store.
    const viaConnect = await call(method, frame(gzipSync(message), 1), { "grpc-encoding": "gzip", "grpc-accept-encoding": "identity,deflate,gzip" });
    expect(said(fast)).toEqual(said(viaConnect));
    expect([fast.servedBy, viaConnect.servedBy]).toEqual(servedBy);
  }
  const notFound = await call("GetPayment", frame(getPayment("PI-none")));
  expect(notFound.trailers).toMatchObject({ "grpc-status": "5" });
  const created = await call("CreateOffsitePayment", frame(calls[1]![1]));
  expect(created.trailers).toMatchObject({ "grpc-status": "0" });
  const readBack = await call("GetPayment", frame(getPayment(offsite.paymentId)));
  expect(fromBinary(GetPaymentResponseSchema, readBack.body.subarray(5))).toMatchObject({ status: PaymentStatus.PROCESSING, error: "" });
});

test("the signature covers the bytes the fast path read: another body under it is refused, nothing written", async () => {
  const good = frame(offsiteBytes(uniqueId("PI")));
  const other = frame(offsiteBytes(uniqueId("PI")));
  const before = await countAllDocuments(server.db);
  const refused = await call("CreateOffsitePayment", other, { "x-genstore-hmac-sha256": sign(good) });
  expect(refused.trailers).toMatchObject({ "grpc-status": "16", "grpc-message": "the%20X-Genstore-Hmac-Sha256%20header%20does%20not%20match%20the%20body" });
  expect(await countAllDocuments(server.db)).toBe(before);
  expect(refused.servedBy).toBe("unary path");
  // Written in 7-byte pieces: the path joins them, and the signature covers them all.
  expect(await call("CreateOffsitePayment", good, {}, 7)).toMatchObject({ trailers: { "grpc-status": "0" }, servedBy: "unary path" });
  expect((await call("CreateOffsitePayment", good)).trailers).toMatchObject({ "grpc-status": "0" });
});

test.each([
  ["no message", () => Buffer.alloc(0), "12", /missing input message/],
  ["two messages", () => Buffer.concat([frame(getPayment("PI-a")), frame(getPayment("PI-b"))]), "12", /extra input message/],
  ["a compressed flag without grpc-encoding", () => frame(gzipSync(getPayment("PI-a")), 1), "13", /compress/],
  ["a frame promising more bytes than sent", () => frame(getPayment("PI-a")).subarray(0, 9), "3", /incomplete envelope/],
  ["a frame over the body limit", () => frame(Buffer.alloc(70 * 1024, 0x41)), "8", /readMaxBytes/],
])("%s gets Connect's own gRPC error and writes nothing", async (_name, body, status, message) => {
  const before = await countAllDocuments(server.db);
  const answer = await call("CreateOffsitePayment", body());
  expect(answer.servedBy).not.toBe("unary path");
  expect(answer.trailers["grpc-status"]).toBe(status);
  expect(decodeURIComponent(String(answer.trailers["grpc-message"]))).toMatch(message);
  expect(await countAllDocuments(server.db)).toBe(before);
});

test("a message that is not protobuf is the client's fault on every binary protocol: INVALID_ARGUMENT, nothing written", async () => {
  const garbage = Buffer.from([0x0a, 0x50, 0x41]); // a field promising 80 bytes, with one
  const before = await countAllDocuments(server.db);
  const fast = await call("RefundPayment", frame(garbage));
  const viaConnect = await call("RefundPayment", frame(gzipSync(garbage), 1), { "grpc-encoding": "gzip" });
  for (const answer of [fast, viaConnect]) expect(answer.trailers).toMatchObject({ "grpc-status": "3", "grpc-message": "parse%20binary%3A%20premature%20EOF" });
  const connectUnary = await fetch(`${server.url}${service}/RefundPayment`, {
    method: "POST",
    headers: { "content-type": "application/proto" },
    body: garbage,
  });
  expect([connectUnary.status, await connectUnary.json()]).toEqual([400, { code: "invalid_argument", message: "parse binary: premature EOF" }]);
  expect(await countAllDocuments(server.db)).toBe(before);
});
