import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";

/**
 * A real @grpc/grpc-js client for one of our services, built from the generated descriptors
 * (protobuf-es does the binary encoding; grpc-js does HTTP/2 and gRPC framing).
 */
export function createGrpcJsClient(service: DescService, address: string): grpc.Client & Record<string, unknown> {
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const m of service.methods) {
    definition[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (v: object) => Buffer.from(toBinary(m.input, create(m.input, v as never))),
      requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
      responseSerialize: (v: object) => Buffer.from(toBinary(m.output, create(m.output, v as never))),
      responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
    };
  }
  const Client = grpc.makeGenericClientConstructor(definition as grpc.ServiceDefinition, service.name);
  return new Client(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
}

export class GrpcCallError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${grpc.status[code]}: ${details}`);
  }
}

/** Calls a unary method; rejects with the gRPC status code and details. */
export function grpcUnary<T = Record<string, unknown>>(
  client: grpc.Client & Record<string, unknown>,
  method: DescMethod,
  request: object,
  metadata: Record<string, string> = {},
): Promise<T> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  const fn = client[method.localName] as (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: T) => void) => void;
  return new Promise((resolve, reject) => {
    fn.call(client, request, md, (err, res) => (err ? reject(new GrpcCallError(err.code, err.details)) : resolve(res)));
  });
}
