import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/health/v1/health_pb.js";

/** Answers whether the service is ready (database reachable) and which services we serve. */
export interface HealthSource {
  services: readonly string[];
  isServing(): Promise<boolean>;
}

const WATCH_INTERVAL_MS = 5000;

/** grpc.health.v1.Health: "" is the server as a whole; each served service by its full name. */
export function createHealthServiceImpl(source: HealthSource): ServiceImpl<typeof Health> {
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
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = await statusOf(req.service);
        if (status !== last) {
          last = status;
          yield { status };
        }
        // The listener goes with its wait: a watch lasting hours must not pile one up every interval.
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            ctx.signal.removeEventListener("abort", done);
            resolve();
          };
          const t = setTimeout(done, WATCH_INTERVAL_MS);
          ctx.signal.addEventListener("abort", done, { once: true });
        });
      }
      // Ended by its deadline (or the client's going): say why, not OK.
      ctx.signal.throwIfAborted();
    },
  };
}
