import { toBinary, type DescFile, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { ServerReflection, type ServerReflectionRequest, type ServerReflectionResponseSchema } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

type Answer = MessageInitShape<typeof ServerReflectionResponseSchema>;

/** v1 and v1alpha: the same messages under two package names (ghz, Postman and older grpcurl ask v1alpha). */
export type ReflectionService = typeof ServerReflection | typeof ServerReflectionV1alpha;

/**
 * A file and everything it imports, as serialized FileDescriptorProtos: the file first, as
 * grpc-go's server sends it (older reflection clients, ghz's among them, take the first file as
 * the one asked for).
 */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dep of f.dependencies) visit(dep);
  };
  visit(file);
  return out;
}

/**
 * Requests one reflection stream may make. Reflection needs no credentials and a stream counts
 * once against the per-address limit, so each stream is bounded: grpcurl and ghz ask a handful.
 */
export const MAX_REFLECTION_REQUESTS_PER_STREAM = 100;

/**
 * grpc.reflection.v1.ServerReflection or its v1alpha twin over the files of the services we serve.
 * The answers are plain objects: Connect creates them as the served version's response message.
 */
export function createReflectionServiceImpl<S extends ReflectionService>(
  _service: S,
  served: readonly DescFile[],
  serviceNames: readonly string[],
): ServiceImpl<S> {
  const files = new Map<string, DescFile>();
  const bySymbol = new Map<string, DescFile>();
  const addMessage = (file: DescFile, m: DescMessage) => {
    bySymbol.set(m.typeName, file);
    for (const f of m.fields) bySymbol.set(`${m.typeName}.${f.name}`, file);
    for (const e of m.nestedEnums) bySymbol.set(e.typeName, file);
    for (const n of m.nestedMessages) addMessage(file, n);
  };
  const addFile = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const m of file.messages) addMessage(file, m);
    for (const e of file.enums) bySymbol.set(e.typeName, file);
    for (const x of file.extensions) bySymbol.set(x.typeName, file);
    for (const svc of file.services) {
      bySymbol.set(svc.typeName, file);
      for (const m of svc.methods) bySymbol.set(`${svc.typeName}.${m.name}`, file);
    }
    for (const dep of file.dependencies) addFile(dep);
  };
  for (const file of served) addFile(file);
  // Serialized once per file: the descriptors never change while the process runs.
  const serialized = new Map<string, Uint8Array[]>();
  const descriptorsOf = (file: DescFile) => {
    let bytes = serialized.get(file.proto.name);
    if (!bytes) serialized.set(file.proto.name, (bytes = withDependencies(file)));
    return bytes;
  };

  function answer(req: ServerReflectionRequest): Answer {
    const base = { validHost: req.host, originalRequest: req };
    const notFound = (what: string): Answer => ({
      ...base,
      messageResponse: { case: "errorResponse", value: { errorCode: 5, errorMessage: `${what} not found` } },
    });
    const fileAnswer = (file: DescFile): Answer => ({
      ...base,
      messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: descriptorsOf(file) } },
    });
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return { ...base, messageResponse: { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } } };
      case "fileByFilename": {
        const file = files.get(r.value);
        return file ? fileAnswer(file) : notFound(`file ${r.value}`);
      }
      case "fileContainingSymbol": {
        const file = bySymbol.get(r.value);
        return file ? fileAnswer(file) : notFound(`symbol ${r.value}`);
      }
      case "allExtensionNumbersOfType":
        return { ...base, messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: [] } } };
      case "fileContainingExtension":
        return notFound(`extension ${r.value.containingType}(${r.value.extensionNumber})`);
      default:
        return { ...base, messageResponse: { case: "errorResponse", value: { errorCode: 3, errorMessage: "empty request" } } };
    }
  }

  const impl: ServiceImpl<typeof ServerReflection> = {
    async *serverReflectionInfo(requests) {
      let asked = 0;
      for await (const req of requests) {
        if (++asked > MAX_REFLECTION_REQUESTS_PER_STREAM) {
          throw new ConnectError(`at most ${MAX_REFLECTION_REQUESTS_PER_STREAM} reflection requests per stream - open another one`, Code.ResourceExhausted);
        }
        yield answer(req);
      }
    },
  };
  // Both versions have the same fields and numbers, so one implementation serves either.
  return impl as unknown as ServiceImpl<S>;
}
