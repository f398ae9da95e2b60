import type { MongoClient } from "mongodb";

/** How long the driver's server monitor has been in one check, as its heartbeat events tell. */
export interface MonitorWatch {
  /** The longest a check still under way has run (0 when none is). */
  stuckForMs(): number;
  /** Forgets the checks under way: they belonged to a topology that is now closed. */
  reset(): void;
  stop(): void;
}

/**
 * Follows the driver's heartbeats (public SDAM events). A check always ends, succeeded or failed,
 * within its socket timeout, except when the driver hangs: we have seen its monitor wait for good
 * on a hello written to a connection a half-open link had just closed, and with the monitor stuck
 * the server stays "unknown" and every command fails server selection long after the database is
 * back (decisions.md D11).
 */
export function createMonitorWatch(client: MongoClient, now: () => number = Date.now): MonitorWatch {
  const started = new Map<string, number>();
  const onStarted = (e: { connectionId: string }) => started.set(e.connectionId, now());
  const onEnded = (e: { connectionId: string }) => started.delete(e.connectionId);
  client.on("serverHeartbeatStarted", onStarted);
  client.on("serverHeartbeatSucceeded", onEnded);
  client.on("serverHeartbeatFailed", onEnded);
  return {
    stuckForMs: () => Math.max(0, ...[...started.values()].map((t) => now() - t)),
    reset: () => started.clear(),
    stop() {
      client.off("serverHeartbeatStarted", onStarted);
      client.off("serverHeartbeatSucceeded", onEnded);
      client.off("serverHeartbeatFailed", onEnded);
    },
  };
}
