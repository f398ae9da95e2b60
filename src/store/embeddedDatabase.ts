import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Logger } from "../observability/logger.js";
import { buildEmbeddedDatabase, EmbeddedDatabaseError } from "./ferretdbBuild.js";
import { ferretdbLogEntry } from "./ferretdbLog.js";

export { buildEmbeddedDatabase, EmbeddedDatabaseError };

export interface EmbeddedDatabase {
  uri: string;
  pid: number;
  /** Settles when the process exits, saying how ("killed by SIGKILL", "exited with code 1"). */
  exited: Promise<string>;
  /** Stops FerretDB and waits for it to exit. */
  stop(): Promise<void>;
}

export interface StartOptions {
  dataDir: string;
  cacheDir: string;
  /** Loopback address to listen on; port 0 picks a free one. */
  listen?: string;
  /** A Unix socket to listen on instead (see unixSocketOf). */
  unix?: string;
  log?: Logger;
  startTimeoutMs?: number;
  /** SQLite's synchronous setting (EMBEDDED_DATABASE_SYNC): "full" (default) or "normal". */
  sync?: "full" | "normal";
  /** Aborting stops the build or FerretDB while it starts. */
  signal?: AbortSignal;
}

/** The longest socket path taken: a socket address holds 107 bytes and a NUL on Linux, 103 on macOS. */
export const SOCKET_PATH_MAX = 100;

/** The folder under DATA_DIR with the SQLite files, made owner-only; the socket goes there too. */
const DATABASE_FOLDER = "ferretdb";
/** The socket's place under DATA_DIR. */
export const SOCKET_IN_DATA_DIR = join(DATABASE_FOLDER, "ferretdb.sock");

/**
 * Where the embedded FerretDB of `dataDir` listens by default: a Unix socket beside its SQLite
 * files, in a directory only this user can enter, so that no other local user or process reaches
 * the payments, as any could on a loopback port. undefined when the path is longer than
 * SOCKET_PATH_MAX bytes.
 */
export function unixSocketOf(dataDir: string): string | undefined {
  const path = join(resolve(dataDir), SOCKET_IN_DATA_DIR);
  return Buffer.byteLength(path) <= SOCKET_PATH_MAX ? path : undefined;
}

/** Builds (if needed) and starts FerretDB with SQLite files under dataDir/ferretdb. */
export async function startEmbeddedDatabase(opts: StartOptions): Promise<EmbeddedDatabase> {
  const log = opts.log ?? (() => {});
  const binary = await buildEmbeddedDatabase(opts.cacheDir, { log, ...(opts.signal ? { signal: opts.signal } : {}) });
  opts.signal?.throwIfAborted();
  const dir = join(opts.dataDir, DATABASE_FOLDER);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // stdin stays a pipe: FerretDB exits when it closes, so it never outlives us. It makes its own
  // process group (a Ctrl-C reaches only us, and we stop it after our last query, not in the
  // middle) in our session: not detached, which would make a session of its own (main.go says why).
  const where = opts.unix ? ["-unix", opts.unix] : ["-listen", opts.listen ?? "127.0.0.1:0"];
  const child = spawn(binary, ["-dir", dir, ...where, "-sync", opts.sync ?? "full"], { stdio: ["pipe", "pipe", "pipe"] });
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    log(ferretdbLogEntry(line));
  });
  const exited = new Promise<string>((res) => child.once("exit", (code, signal) => res(signal ? `killed by ${signal}` : `exited with code ${code}`)));
  // SQLite survives a kill; a FerretDB that does not stop within 2 s of SIGTERM is hung.
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  };

  const timeoutMs = opts.startTimeoutMs ?? 30000;
  const onAbort = () => void stop();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const uri = await new Promise<string>((resolveUri, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new EmbeddedDatabaseError(`the embedded FerretDB did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(new EmbeddedDatabaseError(`the embedded FerretDB could not be started: ${err.message}`));
      });
      void exited.then((how) => {
        clearTimeout(timer);
        if (opts.signal?.aborted) return reject(opts.signal.reason);
        const lines = stderrTail.slice(-3).map((l) => String(ferretdbLogEntry(l).msg));
        reject(new EmbeddedDatabaseError(`the embedded FerretDB ${how}: ${lines.join(" | ")}`));
      });
      createInterface({ input: child.stdout }).on("line", (line) => {
        const m = /^ready (mongodb:\/\/\S+)$/.exec(line);
        if (m?.[1]) {
          clearTimeout(timer);
          resolveUri(m[1]);
        }
      });
    });
    return { uri, pid: child.pid ?? 0, exited, stop };
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
}
