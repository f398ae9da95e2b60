import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createFileRegistry, fromBinary, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { ServerReflection, type ServerReflectionResponse } from "../../gen/grpc/reflection/v1alpha/reflection_pb";
import { MAX_REFLECTION_REQUESTS_PER_STREAM } from "../../src/server/reflectionService";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { createGrpcJsClient, grpcUnary } from "../helpers/grpcJsClient";
import { getJson, startTestServer, type TestServer } from "../helpers/testServer";

// What ghz (and Postman, and older grpcurl builds) do: learn the contract from the server's
// v1alpha reflection, or from the descriptor set `npm run protoset` writes, and call
// CreateCardPayment with nothing compiled in. Only the descriptors they got are used here.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

/** Asks grpc.reflection.v1alpha for the file defining `symbol`; answers the files it sent (with their imports). */
async function reflectV1alpha(symbol: string): Promise<FileDescriptorProto[]> {
  const client = createGrpcJsClient(ServerReflection, `127.0.0.1:${server.port}`);
  try {
    const call = (client.serverReflectionInfo as () => grpc.ClientDuplexStream<object, ServerReflectionResponse>).call(client);
    const answers: ServerReflectionResponse[] = [];
    const done = new Promise<void>((ok, fail) => {
      call.on("data", (a: ServerReflectionResponse) => answers.push(a));
      call.on("end", ok);
      call.on("error", fail);
    });
    call.write({ messageRequest: { case: "fileContainingSymbol", value: symbol } });
    call.end();
    await done;
    const answer = answers[0]?.messageResponse;
    if (answer?.case !== "fileDescriptorResponse") throw new Error(`reflection answered ${answer?.case}`);
    return answer.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
  } finally {
    client.close();
  }
}

test("one reflection stream answers at most MAX_REFLECTION_REQUESTS_PER_STREAM requests, then RESOURCE_EXHAUSTED", async () => {
  const client = createGrpcJsClient(ServerReflection, `127.0.0.1:${server.port}`);
  try {
    const call = (client.serverReflectionInfo as () => grpc.ClientDuplexStream<object, ServerReflectionResponse>).call(client);
    let answers = 0;
    const ended = new Promise<{ code?: number; details?: string }>((resolve) => {
      call.on("data", () => answers++);
      call.on("error", (err: grpc.ServiceError) => resolve(err));
      call.on("end", () => resolve({}));
    });
    for (let i = 0; i <= MAX_REFLECTION_REQUESTS_PER_STREAM; i++)
      call.write({ messageRequest: { case: "fileContainingSymbol", value: "genstore.payment.v1.PaymentService" } });
    call.end();
    expect(await ended).toMatchObject({ code: 8, details: `at most ${MAX_REFLECTION_REQUESTS_PER_STREAM} reflection requests per stream - open another one` });
    // grpc-js may surface the status before the last few answers it had queued.
    expect(answers).toBeGreaterThan(MAX_REFLECTION_REQUESTS_PER_STREAM / 2);
    expect(answers).toBeLessThanOrEqual(MAX_REFLECTION_REQUESTS_PER_STREAM);
  } finally {
    client.close();
  }
});

let seq = 0;

/** CreateCardPayment through a client built from `registry` alone, then Get payment over Genstore JSON. */
async function payWith(registry: FileRegistry): Promise<void> {
  const service = registry.getService("genstore.payment.v1.PaymentService");
  if (!service) throw new Error("PaymentService is not in the descriptors");
  // The field ghz's .proto parser refused: the descriptors keep it as proto3 optional.
  expect(registry.getMessage("genstore.payment.v1.CreateCardPaymentRequest")?.fields.find((f) => f.name === "test")?.proto.proto3Optional).toBe(true);
  const client = createGrpcJsClient(service, `127.0.0.1:${server.port}`);
  const paymentId = `tool-${Date.now()}-${++seq}`;
  try {
    const answer = await grpcUnary(client, service.method.createCardPayment!, {
      paymentId,
      amount: "12.34",
      currency: "USD",
      test: true,
      manualCapture: true,
      paymentMethod: { data: encryptLikeGenstore(server.publicKey, testCard()) },
      customer: { email: "buyer@example.com" },
      clientDetails: { ipAddress: "10.0.0.1" },
    });
    expect(answer).toMatchObject({ threeDsUrl: "", error: "" });
  } finally {
    client.close();
  }
  expect(await getJson(`${server.url}/genstore/v1/payments/${paymentId}`)).toMatchObject({ status: 200, body: { status: "AUTH_SUCCESS", error: "" } });
}

test("a client that knows only what v1alpha reflection told it reaches CreateCardPayment", async () => {
  const files = await reflectV1alpha("genstore.payment.v1.PaymentService.CreateCardPayment");
  // As ghz's reflection client (jhump/protoreflect) does: the first file of the answer is the one
  // asked for, its imports are looked up by name among the others.
  expect(files[0]?.name).toBe("genstore/payment/v1/payment_service.proto");
  await payWith(createFileRegistry(files[0]!, (name) => files.find((f) => f.name === name)));
});

test("a client built from the committed descriptor set (npm run protoset) reaches CreateCardPayment", async () => {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(resolve(__dirname, "../../gen/genstore.binpb")));
  expect(set.file.map((f) => f.name)).toEqual(expect.arrayContaining(["genstore/payment/v1/payment_service.proto", "google/api/annotations.proto"]));
  await payWith(createFileRegistry(set));
});
