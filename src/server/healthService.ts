import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/health/v1/health_pb.js";

/** Answers whether the service is ready (database reachable) and which services we serve. */
export interface HealthSource {
  services: readonly string[];
  isServing(): Promise<boolean>;
}

/**
 * Watch is open to anyone (as Check is), and a watch lasts until its client leaves: on HTTP/1.1
 * each one holds a connection. So few at once, and each ends after a while (the health
 * protocol's clients watch again); together they cannot take the port's connections.
 */
export interface WatchLimits {
  /** Watches open at once; one more is refused with RESOURCE_EXHAUSTED. */
  maxWatches: number;
  /** A watch ends (OK) after this long; its client watches again. */
  watchLifetimeMs: number;
  /** How often a watch asks whether the status changed. */
  intervalMs: number;
}

export const defaultWatchLimits: WatchLimits = { maxWatches: 64, watchLifetimeMs: 5 * 60_000, intervalMs: 5000 };

/** grpc.health.v1.Health: "" is the server as a whole; each served service by its full name. */
export function createHealthServiceImpl(source: HealthSource, limits: WatchLimits = defaultWatchLimits): ServiceImpl<typeof Health> {
  let watching = 0;
  async function statusOf(service: string): Promise<Status> {
    if (service !== "" && !source.services.includes(service)) return Status.SERVICE_UNKNOWN;
    return (await source.isServing()) ? Status.SERVING : Status.NOT_SERVING;
  }
  return {
    async check(req) {
      const status = await statusOf(req.service);
      if (status === Status.SERVICE_UNKNOWN) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      return { status };
    },
    async list() {
      const serving = (await source.isServing()) ? Status.SERVING : Status.NOT_SERVING;
      const statuses: Record<string, { status: Status }> = { "": { status: serving } };
      for (const s of source.services) statuses[s] = { status: serving };
      return { statuses };
    },
    async *watch(req, ctx) {
      if (watching >= limits.maxWatches) {
        throw new ConnectError(`${limits.maxWatches} health watches are open already; use Check, or watch again later`, Code.ResourceExhausted);
      }
      // Counted until the generator ends or the call does (the signal fires when its stream
      // closes), whichever comes first: a generator left suspended must not keep its place.
      watching++;
      let counted = true;
      const release = () => {
        if (counted) watching--;
        counted = false;
      };
      ctx.signal.addEventListener("abort", release, { once: true });
      try {
        const endsAt = Date.now() + limits.watchLifetimeMs;
        let last: Status | undefined;
        while (!ctx.signal.aborted && Date.now() < endsAt) {
          const status = await statusOf(req.service);
          if (status !== last) {
            last = status;
            yield { status };
          }
          // The listener goes with its wait: a long watch must not pile one up every interval.
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(t);
              ctx.signal.removeEventListener("abort", done);
              resolve();
            };
            const t = setTimeout(done, Math.max(0, Math.min(limits.intervalMs, endsAt - Date.now())));
            ctx.signal.addEventListener("abort", done, { once: true });
          });
        }
      } finally {
        ctx.signal.removeEventListener("abort", release);
        release();
      }
      // Ended by its deadline (or the client's going): say why, not OK.
      ctx.signal.throwIfAborted();
    },
  };
}
