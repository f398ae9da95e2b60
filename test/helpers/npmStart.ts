import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { resolve } from "node:path";
import { waitFor } from "./waitFor";
import { processOutput } from "./processOutput";

export const root = resolve(__dirname, "../..");

export interface NpmStarted {
  child: ChildProcess;
  /** stdout lines: JSON log entries, or { raw } for npm's own lines. */
  lines: Record<string, unknown>[];
  stderr: string[];
  exited: Promise<number | null>;
  /** The URL from the "listening" line. */
  listening(timeoutMs?: number): Promise<string>;
}

/**
 * `npm start` as the README runs it, in the repository, with `env` over PATH and HOME. `prefix`
 * runs it under another command that execs it (setpriv), so the child's pid stays npm's.
 */
export function npmStart(env: Record<string, string>, prefix: string[] = []): NpmStarted {
  const [command = "npm", ...args] = [...prefix, "npm", "start"];
  const child = spawn(command, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", CACHE_DIR: resolve(root, ".cache"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const { lines, stderr, exited } = processOutput(child);
  return {
    child,
    lines,
    stderr,
    exited,
    async listening(timeoutMs = 90_000) {
      const line = await waitFor(
        "the listening line",
        () => {
          if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}: ${stderr.join("\n")}`);
          return lines.find((l) => l.msg === "listening");
        },
        timeoutMs,
        50,
      );
      return String(line.url);
    },
  };
}

/** Pids of the FerretDB launchers whose files are under dataDir (from /proc: Linux). */
export function ferretdbProcesses(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // gone meanwhile
    }
    const dir = args[args.indexOf("-dir") + 1];
    if (args.indexOf("-dir") > 0 && dir === resolve(dataDir, "ferretdb")) pids.push(Number(entry));
  }
  return pids;
}

/** Whether nothing accepts connections on the port any more. */
export function portClosed(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      done(false);
    });
    socket.once("error", () => done(true));
  });
}
