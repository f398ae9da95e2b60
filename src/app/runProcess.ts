import { startupFailureLine } from "./startupFailure.js";
import { unsupportedNodeWarning } from "./supportedNode.js";

/** A started service, as the process sees it. */
export interface Running {
  stop(): Promise<void>;
  /** How long a stop may take for requests and background work; the database gets 5 s more. */
  shutdownTimeoutMs: number;
}

const DEFAULT_SHUTDOWN_MS = 10_000;
const DATABASE_STOP_MS = 5_000;

function line(stream: NodeJS.WriteStream, entry: Record<string, unknown>): void {
  stream.write(JSON.stringify({ level: entry.level, time: new Date().toISOString(), ...entry }) + "\n");
}

/**
 * Runs the service as this process: SIGTERM and SIGINT stop it at any time (during start-up
 * too: a first start may spend minutes building the embedded database), and a stop that
 * overruns its time exits anyway. A failed start is one line on stderr and exit code 1.
 */
export function runAsProcess(start: (signal: AbortSignal) => Promise<Running>, env: Record<string, string | undefined> = process.env): void {
  const startup = new AbortController();
  let running: Running | undefined;
  let stopping = false;

  const stop = (service: Running) =>
    service.stop().then(
      () => {
        line(process.stdout, { level: "info", msg: "stopped" });
        process.exit(0);
      },
      (err: unknown) => {
        line(process.stdout, { level: "error", msg: "shutdown failed", error: String(err) });
        process.exit(1);
      },
    );

  const onSignal = (signal: NodeJS.Signals) => {
    // npm forwards a Ctrl-C that the terminal also sent us: the second one is no news.
    if (stopping) return line(process.stdout, { level: "info", msg: `${signal}: already shutting down` });
    stopping = true;
    line(process.stdout, { level: "info", msg: `${signal}: shutting down` });
    const budget = (running?.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_MS) + DATABASE_STOP_MS;
    setTimeout(() => {
      line(process.stdout, { level: "error", msg: `shutdown did not finish within ${budget} ms: exiting anyway` });
      process.exit(1);
    }, budget).unref();
    if (running) void stop(running);
    else startup.abort(new Error(`${signal} during start-up`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const nodeWarning = unsupportedNodeWarning();
  if (nodeWarning) line(process.stdout, { level: "warn", msg: nodeWarning });

  start(startup.signal).then(
    (service) => {
      running = service;
      if (stopping) void stop(service);
    },
    (err: unknown) => {
      if (stopping) {
        line(process.stdout, { level: "info", msg: "stopped during start-up" });
        process.exit(0);
      }
      if (env.LOG_LEVEL === "debug") line(process.stdout, { level: "debug", msg: "start-up failed", stack: String((err as Error)?.stack ?? err) });
      process.stderr.write(`genstore-payment-app: cannot start: ${startupFailureLine(err)}\n`);
      process.exit(1);
    },
  );
}
