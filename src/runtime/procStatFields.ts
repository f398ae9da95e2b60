import { readFileSync } from "node:fs";

/**
 * A process's /proc/<pid>/stat from field 3 (state) on, so that field n is at index n - 3;
 * undefined where there is no /proc or no such process. The command name (field 2) may hold
 * spaces and parentheses: the fields are counted from the last ")".
 */
export function procStatFields(pid: number | "self"): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}
