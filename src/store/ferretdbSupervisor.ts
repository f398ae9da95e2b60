import { startEmbeddedDatabase, type EmbeddedDatabase, type StartOptions } from "./embeddedDatabase.js";

export interface Supervision {
  /** How long it may take to come back before we give up (and the service exits). */
  restartWithinMs: number;
  onExit: (detail: string) => void;
  onRestart: (detail: string) => void;
  onGiveUp: (err: Error) => void;
}

/** The embedded FerretDB under supervision: the process behind it changes on a restart. */
export interface SupervisedDatabase {
  uri: string;
  /** The FerretDB process running now. */
  readonly pid: number;
  /** How many times it was restarted. */
  readonly restarts: number;
  /** Stops supervising, then FerretDB. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * Starts the embedded FerretDB and keeps it running: when it exits on its own it is started
 * again on the same socket or port (the driver reconnects there by itself), with backoff from 100 ms
 * to 2 s. If it is not back within `restartWithinMs` the supervisor gives up and says so; the
 * service then exits non-zero so that its own supervisor (systemd, Kubernetes) restarts it all.
 */
export async function startSupervisedDatabase(opts: StartOptions, s: Supervision): Promise<SupervisedDatabase> {
  let current = await startEmbeddedDatabase(opts);
  // Its socket again, or the port it took (a free one the first time).
  const listen = opts.unix ?? new URL(current.uri).host;
  // The signal stops a first start; a restart is ours to stop (stop()).
  const { signal: _firstStartOnly, ...first } = opts;
  const again = opts.unix ? first : { ...first, listen };
  let stopping = false;
  let restarts = 0;

  const restart = async (): Promise<EmbeddedDatabase | undefined> => {
    const started = Date.now();
    let last: unknown;
    for (let attempt = 0; !stopping && Date.now() - started < s.restartWithinMs; attempt++) {
      await sleep(Math.min(2000, 100 * 2 ** attempt));
      if (stopping) return undefined;
      try {
        const next = await startEmbeddedDatabase(again);
        restarts++;
        s.onRestart(`the embedded FerretDB is back (pid ${next.pid}) after ${Date.now() - started} ms, restart ${restarts}`);
        return next;
      } catch (err) {
        last = err;
      }
    }
    if (!stopping) s.onGiveUp(new Error(`the embedded FerretDB did not come back within ${s.restartWithinMs} ms: ${(last as Error)?.message ?? "no attempt"}`));
    return undefined;
  };

  const watch = (proc: EmbeddedDatabase): void => {
    void proc.exited.then(async (how) => {
      if (stopping) return;
      s.onExit(`the embedded FerretDB (pid ${proc.pid}) ${how}; restarting it on ${listen}`);
      const next = await restart();
      if (!next) return;
      current = next;
      if (stopping) await next.stop();
      else watch(next);
    });
  };
  watch(current);

  return {
    uri: current.uri,
    get pid() {
      return current.pid;
    },
    get restarts() {
      return restarts;
    },
    async stop() {
      stopping = true;
      await current.stop();
    },
  };
}
