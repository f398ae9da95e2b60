import { readFileSync } from "node:fs";

const TICK_MS = 1000 / 100; // Linux clock ticks of /proc/<pid>/stat

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** A process's resident memory now, in MB. */
export function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.replace(/\D+/g, "") ?? 0) / 1024;
}

/** The machine's CPU time so far in clock ticks: all of it, and what the hypervisor gave to others. */
export interface MachineTicks {
  total: number;
  stolen: number;
}

/** From /proc/stat's first line: user, nice, system, idle, iowait, irq, softirq, steal (guest time is inside user's). */
export function machineTicks(): MachineTicks {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: ticks.reduce((t, v) => t + v, 0), stolen: ticks[7] ?? 0 };
}

/**
 * The share of the machine's time the hypervisor kept from it between two readings ("steal"): on
 * this kind of VM, the windows it takes 10–20% of are the slow ones, whichever side runs in them.
 */
export function stolenShare(before: MachineTicks, after: MachineTicks): number {
  const total = after.total - before.total;
  return total > 0 ? (after.stolen - before.stolen) / total : 0;
}

/** A share as a whole percentage. */
export const shareText = (share: number): string => `${(100 * share).toFixed(0)}%`;
