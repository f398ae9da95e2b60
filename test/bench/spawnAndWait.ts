import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";

const root = resolve(__dirname, "../..");

/**
 * Starts `cmd` in the checkout's root with only `env` (and PATH, HOME) and waits for a line of its
 * stdout or stderr matching `ready`, then, if given, for one matching `then`.
 */
export async function spawnAndWait(
  cmd: string[],
  env: Record<string, string>,
  ready: RegExp,
  /** Another line to wait for after `ready`. */
  then?: RegExp,
): Promise<{ child: ChildProcess; match: RegExpExecArray; exited: Promise<void> }> {
  const child = spawn(cmd[0]!, cmd.slice(1), {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let tail = "";
  return new Promise((resolveStart, reject) => {
    // A child that never got ready is stopped, not left running (and holding its port) after the bench.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd.join(" ")} did not start within 60 s: ${tail}`));
    }, 60_000);
    let match: RegExpExecArray | null = null;
    const onLine = (line: string) => {
      tail = (tail + line + "\n").slice(-2000);
      match ??= ready.exec(line);
      if (match && (!then || then.test(line))) {
        clearTimeout(timer);
        resolveStart({ child, match, exited });
      }
    };
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", onLine);
    child.once("exit", (code) => reject(new Error(`${cmd.join(" ")} exited ${code}: ${tail}`)));
  });
}
