import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { connect as http2Connect, constants as h2 } from "node:http2";
import { PaymentStatus } from "../../gen/genstore/payment/v1/common_pb";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { ServerReflection, type ServerReflectionResponse } from "../../gen/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb";
import { Health, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../../gen/health/v1/health_pb";
import examples from "../fixtures/apiPageExamples.json";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { createGrpcJsClient, grpcUnary, GrpcCallError } from "../helpers/grpcJsClient";
import { getJson, postJson, startTestServer, type TestServer } from "../helpers/testServer";
import { waitFor } from "../helpers/waitFor";

// The same handlers and data through Genstore JSON, Connect (HTTP/1.1 JSON and HTTP/2 binary)
// and gRPC (@grpc/grpc-js), all on the server's one port.
let server: TestServer;
let grpcPayments: ReturnType<typeof createGrpcJsClient>;
let connectJson: Client<typeof PaymentService>;
let connectH2: Client<typeof PaymentService>;
const shop = "proto-shop";
const md = { "x-genstore-shop-id": shop };

beforeAll(async () => {
  server = await startTestServer();
  await server.addShop(shop);
  await server.addShop("other-shop");
  grpcPayments = createGrpcJsClient(PaymentService, `127.0.0.1:${server.port}`);
  connectJson = createClient(PaymentService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
  connectH2 = createClient(PaymentService, createConnectTransport({ baseUrl: server.url, httpVersion: "2", useBinaryFormat: true }));
});
afterAll(async () => {
  grpcPayments.close();
  await server.stop();
});

let seq = 0;
const uniqueId = (p: string) => `${p}${Date.now()}${++seq}`;

function cardRequest(paymentId: string) {
  const body = JSON.parse(examples.cardPayment);
  return {
    paymentId,
    amount: "200.00",
    currency: "USD",
    test: true,
    manualCapture: true,
    paymentMethod: { data: { ...encryptLikeGenstore(server.publicKey, testCard()), returnUrl: "https://shop.example/return" } },
    customer: { email: body.customer.email, shippingAddress: body.customer.shippingAddress, billingAddress: body.customer.billingAddress },
    clientDetails: body.clientDetails,
  };
}

const m = PaymentService.method;

test("a payment created over gRPC is read back over Genstore JSON and Connect", async () => {
  const id = uniqueId("PI");
  const created = await grpcUnary(grpcPayments, m.createCardPayment, cardRequest(id), md);
  expect(created).toMatchObject({ threeDsUrl: "", error: "" });
  const viaJson = await getJson(`${server.url}/genstore/v1/payments/${id}?shopId=${shop}`);
  expect(viaJson).toEqual({ status: 200, body: { status: "AUTH_SUCCESS", channelPaymentId: expect.stringMatching(/^ch_/), error: "" } });
  const viaConnect = await connectJson.getPayment({ paymentId: id }, { headers: md });
  expect(viaConnect).toMatchObject({ status: PaymentStatus.AUTH_SUCCESS, channelPaymentId: viaJson.body.channelPaymentId });
});

test("a payment created over Genstore JSON is read back over gRPC and Connect (HTTP/2)", async () => {
  const id = uniqueId("PI");
  const body = JSON.parse(examples.offsitePayment);
  body.paymentId = id;
  const created = await postJson(`${server.url}/genstore/v1/payments/offsite?shopId=${shop}`, body);
  expect(created.status).toBe(200);
  const viaGrpc = await grpcUnary<{ status: number }>(grpcPayments, m.getPayment, { paymentId: id }, md);
  expect(viaGrpc.status).toBe(PaymentStatus.PROCESSING);
  const viaConnect = await connectH2.getPayment({ paymentId: id }, { headers: md });
  expect(viaConnect.status).toBe(PaymentStatus.PROCESSING);
});

test("a refund created over Connect is read back over gRPC and Genstore JSON, with the same channel id", async () => {
  const id = uniqueId("PI");
  await connectJson.createCardPayment(cardRequest(id), { headers: md });
  await connectJson.capturePayment({ captureId: uniqueId("C"), paymentId: id, amount: "200.00", test: true }, { headers: md });
  const refundId = uniqueId("R");
  const refund = await connectJson.refundPayment({ refundId, paymentId: id, amount: "10.00", test: true }, { headers: md });
  expect(refund.channelRefundId).toMatch(/^rf_/);
  const viaGrpc = await grpcUnary<{ channelRefundId: string }>(grpcPayments, m.getRefund, { refundId }, md);
  expect(viaGrpc.channelRefundId).toBe(refund.channelRefundId);
  const viaJson = await getJson(`${server.url}/genstore/v1/refunds/${refundId}?shopId=${shop}`);
  expect(viaJson).toEqual({ status: 200, body: { channelRefundId: refund.channelRefundId, status: "SUCCESS", error: "" } });
});

test("errors keep their meaning on every protocol", async () => {
  const missing = uniqueId("nope");
  await expect(grpcUnary(grpcPayments, m.getPayment, { paymentId: missing }, md)).rejects.toEqual(
    new GrpcCallError(grpc.status.NOT_FOUND, "Not found payment information."),
  );
  await expect(connectJson.getPayment({ paymentId: missing })).rejects.toMatchObject({ code: Code.NotFound, rawMessage: "Not found payment information." });
  await expect(connectJson.capturePayment({ captureId: uniqueId("C"), paymentId: missing, amount: "1", test: true })).rejects.toMatchObject({
    code: Code.NotFound,
    rawMessage: `payment ${missing} not found`,
  });
  await expect(grpcUnary(grpcPayments, m.capturePayment, { paymentId: "x", amount: "1", test: true }, md)).rejects.toEqual(
    new GrpcCallError(grpc.status.INVALID_ARGUMENT, "captureId is required"),
  );
  const id = uniqueId("PI");
  await connectJson.createCardPayment(cardRequest(id), { headers: md });
  const err = await connectH2.createCardPayment({ ...cardRequest(id), amount: "1.00" }, { headers: md }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).code).toBe(Code.AlreadyExists);
});

test("another shop's payment is not found over gRPC either", async () => {
  const id = uniqueId("PI");
  await grpcUnary(grpcPayments, m.createCardPayment, cardRequest(id), md);
  await expect(grpcUnary(grpcPayments, m.getPayment, { paymentId: id }, { "x-genstore-shop-id": "other-shop" })).rejects.toMatchObject({
    code: grpc.status.NOT_FOUND,
  });
});

test("connect-node's own gRPC transport reaches the same handlers", async () => {
  const client = createClient(PaymentService, createGrpcTransport({ baseUrl: server.url }));
  const id = uniqueId("PI");
  await client.createCardPayment(cardRequest(id), { headers: md });
  expect((await client.getPayment({ paymentId: id }, { headers: md })).status).toBe(PaymentStatus.AUTH_SUCCESS);
});

describe("gRPC health and reflection on the same port", () => {
  test("health answers SERVING for the server and for PaymentService, NOT_FOUND for an unknown service", async () => {
    const health = createGrpcJsClient(Health, `127.0.0.1:${server.port}`);
    try {
      expect(await grpcUnary(health, Health.method.check, { service: "" })).toMatchObject({ status: HealthCheckResponse_ServingStatus.SERVING });
      expect(await grpcUnary(health, Health.method.check, { service: PaymentService.typeName })).toMatchObject({
        status: HealthCheckResponse_ServingStatus.SERVING,
      });
      await expect(grpcUnary(health, Health.method.check, { service: "no.Such" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      health.close();
    }
  });

  /** A Health Watch of "" over raw HTTP/2: the frames it got, and how it ended (gRPC status or Connect error code). */
  function watch(session: ReturnType<typeof http2Connect>, protocol: "grpc" | "connect", deadline: string) {
    const stream = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Watch",
      "content-type": protocol === "grpc" ? "application/grpc+proto" : "application/connect+proto",
      ...(protocol === "grpc" ? { te: "trailers", "grpc-timeout": deadline } : { "connect-timeout-ms": deadline }),
    });
    const frames: Buffer[] = [];
    let pending = Buffer.alloc(0);
    stream.on("data", (c: Buffer) => {
      pending = Buffer.concat([pending, c]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        frames.push(pending.subarray(0, 5 + pending.readUInt32BE(1)));
        pending = pending.subarray(5 + pending.readUInt32BE(1));
      }
    });
    const ended = new Promise<string>((resolve) => {
      let trailers: Record<string, unknown> = {};
      stream.on("trailers", (t) => (trailers = t));
      stream.on("close", () => {
        const last = frames.at(-1);
        // Connect ends a stream with a frame flagged 0x02 holding its error as JSON.
        if (protocol === "connect")
          resolve(last && last[0] === 2 ? String((JSON.parse(last.subarray(5).toString()) as { error?: { code?: string } }).error?.code) : "closed");
        else resolve(String(trailers["grpc-status"] ?? "closed"));
      });
    });
    stream.end(Buffer.from([0, 0, 0, 0, 0])); // one empty HealthCheckRequest: service ""
    let state = "open";
    void ended.then((how) => (state = how));
    return { frames, ended, state: () => state, cancel: () => stream.close(h2.NGHTTP2_CANCEL) };
  }

  // A deadline of years is valid (grpc-timeout allows 8 digits of hours), but longer than any
  // timer Node sets: such a timer fires after 1 ms, which would end the watch at once.
  test.each([
    ["gRPC", "grpc", "99999999H", "300m", "4"],
    ["Connect", "connect", "9999999999", "300", "deadline_exceeded"],
  ] as const)("a %s Health watch with a deadline of years stays open past a short one's end", async (_name, protocol, years, short, expired) => {
    const session = http2Connect(server.url);
    try {
      const long = watch(session, protocol, years);
      // Started once the long one is surely running, so that a busy machine cannot reorder them.
      await waitFor("the long watch's first status", () => long.frames.length >= 1);
      const clock = watch(session, protocol, short);
      // The short watch's end is the clock: a 1 ms timer would have ended the long one first.
      expect(await clock.ended).toBe(expired);
      expect(long.state()).toBe("open");
      expect(long.frames.length).toBeGreaterThanOrEqual(1);
      expect(fromBinary(HealthCheckResponseSchema, long.frames[0]!.subarray(5)).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      long.cancel();
      await long.ended;
    } finally {
      session.close();
    }
  });

  test("at most 64 Health watches are open at once: one more is refused, and a closed one frees its place", async () => {
    const session = http2Connect(server.url);
    try {
      const open = Array.from({ length: 64 }, () => watch(session, "grpc", "60S"));
      await waitFor("64 watches to get their first status", () => open.every((w) => w.frames.length >= 1));
      // RESOURCE_EXHAUSTED: otherwise one client could hold every connection with watches.
      expect(await watch(session, "grpc", "60S").ended).toBe("8");
      expect(open.map((w) => w.state())).toEqual(Array(64).fill("open"));
      open[0]!.cancel();
      await open[0]!.ended;
      let again = watch(session, "grpc", "60S");
      // The place is free once the server has seen the stream close: ask until it has.
      await waitFor("a watch to be accepted again", async () => {
        if (again.frames.length >= 1) return true;
        if (again.state() !== "open") again = watch(session, "grpc", "60S");
        return false;
      });
      expect(again.state()).toBe("open");
      for (const w of [...open.slice(1), again]) w.cancel();
    } finally {
      session.close();
    }
  });

  // v1 is what grpcurl asks; ghz, Postman and older grpcurl builds ask only v1alpha.
  test.each([
    ["v1", ServerReflection],
    ["v1alpha", ServerReflectionV1alpha],
  ] as const)("reflection %s lists the services and serves PaymentService's file with its imports", async (_version, service) => {
    const reflection = createGrpcJsClient(service, `127.0.0.1:${server.port}`);
    try {
      const call = (reflection.serverReflectionInfo as () => grpc.ClientDuplexStream<object, ServerReflectionResponse>).call(reflection);
      const answers: ServerReflectionResponse[] = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on("data", (a: ServerReflectionResponse) => answers.push(a));
        call.on("end", resolve);
        call.on("error", reject);
      });
      call.write({ messageRequest: { case: "listServices", value: "" } });
      call.write({ messageRequest: { case: "fileContainingSymbol", value: "genstore.payment.v1.PaymentService" } });
      call.write({ messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } });
      call.end();
      await done;
      expect(answers).toHaveLength(3);
      const [list, file, missing] = answers;
      expect(list?.messageResponse.case).toBe("listServicesResponse");
      const names = list?.messageResponse.case === "listServicesResponse" ? list.messageResponse.value.service.map((s) => s.name) : [];
      expect(names).toEqual(
        expect.arrayContaining([
          "genstore.payment.v1.PaymentService",
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
        ]),
      );
      const files =
        file?.messageResponse.case === "fileDescriptorResponse"
          ? file.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b))
          : [];
      expect(files.map((f) => f.name)).toEqual(
        expect.arrayContaining(["genstore/payment/v1/payment_service.proto", "genstore/payment/v1/common.proto", "google/api/annotations.proto"]),
      );
      // What ghz needs from it: the file asked for first (older clients take the first file as the
      // answer), then CreateCardPayment and its request message, resolvable from the answer alone.
      const paymentFile = files[0];
      expect(paymentFile?.name).toBe("genstore/payment/v1/payment_service.proto");
      expect(paymentFile?.service[0]?.method.map((m) => m.name)).toContain("CreateCardPayment");
      expect(paymentFile?.messageType.map((m) => m.name)).toContain("CreateCardPaymentRequest");
      expect(missing?.messageResponse.case).toBe("errorResponse");
    } finally {
      reflection.close();
    }
  });
});
