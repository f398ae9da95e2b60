import { promisify } from "node:util";
import { brotliCompress, brotliDecompress, gunzip, gzip } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";

/**
 * gzip and brotli for Connect and gRPC request bodies, inflated to at most readMaxBytes: a
 * compressed bomb stops there with RESOURCE_EXHAUSTED. (connect-node's own tells zlib's errors
 * apart with instanceof, which fails across realms and turns the refusal into INTERNAL.)
 */
function compression(
  name: string,
  pack: (b: Uint8Array) => Promise<Buffer>,
  unpack: (b: Uint8Array, o: { maxOutputLength: number }) => Promise<Buffer>,
): Compression {
  return {
    name,
    compress: async (bytes) => new Uint8Array(await pack(bytes)),
    async decompress(bytes, readMaxBytes) {
      if (bytes.length === 0) return new Uint8Array(0);
      try {
        return new Uint8Array(await unpack(bytes, { maxOutputLength: readMaxBytes }));
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === "ERR_BUFFER_TOO_LARGE")
          throw new ConnectError(`message is larger than configured readMaxBytes ${readMaxBytes} after decompression`, Code.ResourceExhausted);
        throw new ConnectError(`the ${name} body could not be decompressed`, Code.InvalidArgument);
      }
    },
  };
}

export const serverCompressions: Compression[] = [
  compression("gzip", promisify(gzip), promisify(gunzip)),
  compression("br", promisify(brotliCompress), promisify(brotliDecompress)),
];
