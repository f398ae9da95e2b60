import { Agent, request } from "node:http";
import { connect, type IncomingHttpHeaders } from "node:http2";

export interface StepResult {
  name: string;
  concurrency: number;
  seconds: number;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  /** CPU ms per request of each measured process, by name. */
  cpuMsPerRequest: Record<string, number>;
  /** Callbacks Genstore received during the step's windows, per request. */
  callbacksPerRequest?: number;
  /** Database commands per request, from the process's own command monitoring. */
  database?: { writes: number; journalWrites: number; documents: number; reads: number; bytes: number; pspWrites: number };
  /** The share of the machine's time the hypervisor took during the step's windows. */
  stolen?: number;
  firstError?: string;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One request of a closed loop: resolves when answered; throws on a failed answer. */
export type Call = (worker: number, seq: number) => Promise<void>;

/** Closed-loop load: `concurrency` workers each send a request as soon as the previous is answered. */
export async function closedLoop(
  call: Call,
  concurrency: number,
  durationMs: number,
): Promise<{ latencies: number[]; errors: number; elapsedMs: number; firstError?: string }> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const until = started + durationMs;
  let seq = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          await call(worker, seq++);
          latencies.push(performance.now() - t);
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  return { latencies, errors, elapsedMs: performance.now() - started, ...(firstError ? { firstError } : {}) };
}

/** A keep-alive JSON POST client: less overhead than fetch, so the generator stays light. */
export function createJsonPoster(baseUrl: string, maxSockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const url = new URL(baseUrl);
  return function post(path: string, body: string, method = "POST"): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path, method, agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  };
}

/**
 * A lean unary gRPC client over one HTTP/2 connection (node:http2): the length-prefixed message
 * out, the message and `grpc-status` back; no interceptors, retries or channel state. It is to
 * gRPC what createJsonPoster is to HTTP/1.1, so that the two load generators cost about the same
 * on the two cores they share with the service. @grpc/grpc-js does the protocol tests.
 */
export function createGrpcPoster(baseUrl: string) {
  const session = connect(baseUrl);
  session.on("error", () => {}); // each call's stream reports its own failure
  return {
    call(path: string, message: Uint8Array): Promise<{ grpcStatus: number; grpcMessage: string; message: Uint8Array }> {
      return new Promise((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc+proto", te: "trailers" });
        const chunks: Buffer[] = [];
        let status: string | undefined;
        let statusMessage = "";
        const note = (h: IncomingHttpHeaders) => {
          if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
          if (h["grpc-message"] !== undefined) statusMessage = decodeURIComponent(String(h["grpc-message"]));
        };
        // The service's answers end with trailers; a trailers-only one would fail loudly below.
        stream.on("trailers", note);
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("error", reject);
        stream.on("end", () => {
          if (status === undefined) return reject(new Error("gRPC answer without grpc-status"));
          const body = Buffer.concat(chunks);
          // One uncompressed message: flag byte, 4-byte length, the bytes.
          if (body.length > 0 && (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5))
            return reject(new Error(`gRPC answer framed unexpectedly (${body.length} bytes)`));
          resolve({ grpcStatus: Number(status), grpcMessage: statusMessage, message: body.subarray(5) });
        });
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(message.length, 1);
        stream.end(Buffer.concat([prefix, message]));
      });
    },
    close: () => session.close(),
  };
}
