import { Agent, request } from "node:http";

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
  /** Database commands per request, from the process's own command monitoring. */
  database?: { writes: number; journalWrites: number; documents: number; reads: number; bytes: number; pspWrites: number };
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
