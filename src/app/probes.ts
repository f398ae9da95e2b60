import type { Db } from "mongodb";
import type { CardDecryptor } from "../crypto/cardDecryptor.js";
import type { Logger } from "../observability/logger.js";
import { createDatabaseHealth } from "../store/databaseHealth.js";
import { createMonitorWatch } from "../store/monitorWatch.js";

export interface ProbeOptions {
  db: Db;
  cards: CardDecryptor;
  log: Logger;
  /** Between the database health pings (default 1 s). */
  databasePingMs?: number;
  /** Database down this long: liveness fails (default 30 s). */
  databaseUnhealthyAfterMs?: number;
}

/** The database's health monitor and what the probes answer from it. */
export function probesOf(opts: ProbeOptions, dispatcher: { running: boolean }) {
  const client = opts.db.client;
  const health = createDatabaseHealth({
    ping: () => opts.db.command({ ping: 1 }),
    // A driver whose server monitor hung is closed and connected again (monitorWatch.ts).
    monitor: { watch: createMonitorWatch(client), reconnect: { close: () => client.close(), connect: () => client.connect() } },
    ...(opts.databasePingMs !== undefined ? { intervalMs: opts.databasePingMs } : {}),
    log: opts.log,
  });
  /** Ready: the database answers, card keys are loaded, the callback dispatcher runs. */
  const readiness = async (): Promise<Record<string, boolean>> => ({
    database: health.up,
    cardKeys: opts.cards.publicKeys().length > 0,
    dispatcher: dispatcher.running,
  });
  /** Alive unless the database has been gone for long: then only a restart can help. */
  const liveness = () => {
    const downForMs = health.downForMs();
    return { ok: downForMs < (opts.databaseUnhealthyAfterMs ?? 30_000), databaseDownForMs: downForMs };
  };
  return { health, readiness, liveness };
}
