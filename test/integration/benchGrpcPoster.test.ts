import { fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import {
  CreateCardPaymentRequestSchema,
  CreateCardPaymentResponseSchema,
  GetPaymentRequestSchema,
  PaymentService,
} from "../../gen/genstore/payment/v1/payment_service_pb";
import { normalizeJson } from "../../src/server/gateway/jsonCoercion";
import { createGrpcPoster } from "../bench/loadGenerator";
import { cardBody, storedPayment, uniqueId } from "../helpers/payments";
import { startTestServer, type TestServer } from "../helpers/testServer";

// The bench's lean gRPC client measures the service only if it reads gRPC's answers right: the
// message of a success, and the status and message of a failure, from the trailers.
let server: TestServer;
let poster: ReturnType<typeof createGrpcPoster>;
beforeAll(async () => {
  server = await startTestServer({ background: false });
  poster = createGrpcPoster(server.url);
});
afterAll(async () => {
  poster.close();
  await server.stop();
});

const path = (method: keyof typeof PaymentService.method) => `/${PaymentService.typeName}/${PaymentService.method[method].name}`;

test("a card payment: status 0 and the answer's message, and the payment is stored", async () => {
  const id = uniqueId("bench-grpc");
  const body = cardBody(server, id, { manualCapture: false });
  const req = fromJson(CreateCardPaymentRequestSchema, normalizeJson(CreateCardPaymentRequestSchema, body), { ignoreUnknownFields: true });
  const answer = await poster.call(path("createCardPayment"), toBinary(CreateCardPaymentRequestSchema, req));
  expect(answer.grpcStatus).toBe(0);
  expect(fromBinary(CreateCardPaymentResponseSchema, answer.message)).toMatchObject({ error: "", threeDsUrl: "" });
  expect(await storedPayment(server, id)).toMatchObject({ state: "captured" });
});

test("a refused call: its status and message", async () => {
  const answer = await poster.call(path("getPayment"), toBinary(GetPaymentRequestSchema, { $typeName: GetPaymentRequestSchema.typeName, paymentId: "a/../b" }));
  expect(answer.grpcStatus).toBe(3); // INVALID_ARGUMENT
  expect(answer.grpcMessage).toMatch(/^paymentId must be/);
  expect(answer.message).toHaveLength(0);
});
