import type { Logger } from "../observability/logger.js";

/** What the service knows of its database between requests. */
export interface DatabaseHealth {
  /** The last ping answered. */
  readonly up: boolean;
  /** How long the database has been unreachable (0 while it answers). */
  downForMs(): number;
  start(): void;
  stop(): void;
}

export interface DatabaseHealthOptions {
  ping: () => Promise<unknown>;
  /** Between pings; an outage is seen within this. */
  intervalMs?: number;
  log: Logger;
  now?: () => number;
}

/**
 * Pings the database on a timer so an outage is logged once when it starts and once when it
 * ends (with its length), and the probes answer from memory instead of each waiting on a ping.
 */
export function createDatabaseHealth(opts: DatabaseHealthOptions): DatabaseHealth {
  const now = opts.now ?? Date.now;
  const intervalMs = opts.intervalMs ?? 1000;
  let downSince: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  const check = async () => {
    try {
      await opts.ping();
      if (downSince !== null) opts.log({ level: "info", msg: "database reachable again", downForMs: now() - downSince });
      downSince = null;
    } catch (err) {
      if (downSince === null) {
        downSince = now();
        opts.log({
          level: "error",
          msg: "database unreachable: requests are answered 503 until it is back",
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    if (running) timer = setTimeout(() => void check(), intervalMs).unref();
  };

  return {
    get up() {
      return downSince === null;
    },
    downForMs: () => (downSince === null ? 0 : now() - downSince),
    start() {
      if (running) return;
      running = true;
      void check();
    },
    stop() {
      running = false;
      clearTimeout(timer);
    },
  };
}
