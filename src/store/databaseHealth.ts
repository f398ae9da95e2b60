import type { Logger } from "../observability/logger.js";
import type { MonitorWatch } from "./monitorWatch.js";

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
  /**
   * The driver's server monitor (monitorWatch.ts) and how to start the client afresh. While pings
   * fail and one monitor check has run `stuckAfterMs` (default 15 s, longer than any check takes), the
   * client is closed and connected again, and connected again on each failing ping until it is.
   */
  monitor?: { watch: MonitorWatch; reconnect: { close: () => Promise<void>; connect: () => Promise<unknown> }; stuckAfterMs?: number };
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
  const stuckAfterMs = opts.monitor?.stuckAfterMs ?? 15_000;
  let downSince: number | null = null;
  // The client was closed to start afresh and is not connected yet.
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  const restartIfStuck = async () => {
    const m = opts.monitor;
    if (!m || (!closed && m.watch.stuckForMs() < stuckAfterMs)) return;
    try {
      if (!closed) {
        opts.log({
          level: "warn",
          msg: "the database driver's server monitor has hung: closing the client and connecting again",
          stuckForMs: m.watch.stuckForMs(),
        });
        closed = true;
        await m.reconnect.close();
        m.watch.reset();
      }
      await m.reconnect.connect();
      closed = false;
    } catch (err) {
      opts.log({
        level: "warn",
        msg: "could not connect the database client again; trying at the next ping",
        error: err instanceof Error ? err.message : String(err),
      });
    }
  };

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
      await restartIfStuck();
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
      opts.monitor?.watch.stop();
    },
  };
}
