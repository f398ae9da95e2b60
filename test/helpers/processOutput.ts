import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** A service process's JSON log lines (others kept as `raw`), its stderr lines, and its exit code. */
export function processOutput(child: ChildProcess) {
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ raw: l });
    }
  });
  createInterface({ input: child.stderr! }).on("line", (l) => stderr.push(l));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { lines, stderr, exited };
}
