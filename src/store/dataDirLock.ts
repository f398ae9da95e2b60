import { closeSync, fstatSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { DataDirError } from "./dataDir.js";

/** What the lock file says about the instance holding it. */
export interface LockHolder {
  pid: number;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  processStart: string | undefined;
  hostname: string;
  startedAt: string;
  url?: string;
}

export interface DataDirLock {
  path: string;
  /** Adds where this instance listens, for the message a second instance prints. */
  update(fields: Pick<LockHolder, "url">): void;
  /** Removes the lock if it is still ours. */
  release(): void;
}

/** Field 22 of /proc/<pid>/stat; undefined where there is no /proc or no such process. */
export function processStartOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether the holder still runs: its pid lives and, where /proc tells, is the same process. A
 * lock written under another host name is from a replaced container (or machine) and is stale.
 */
function holderRuns(holder: LockHolder): boolean {
  if (holder.hostname !== hostname() || holder.pid === process.pid) return false;
  if (!Number.isInteger(holder.pid) || holder.pid <= 0 || !alive(holder.pid)) return false;
  const start = processStartOf(holder.pid);
  return start === undefined || holder.processStart === undefined || start === holder.processStart;
}

interface LockFile {
  holder: LockHolder | undefined;
  ino: number;
  text: string;
}

/** The lock file's holder, inode and text, read through one descriptor so all are of the same file. */
function readHolder(path: string): LockFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const ino = fstatSync(fd).ino;
    const text = readFileSync(fd, "utf8");
    try {
      const parsed = JSON.parse(text) as LockHolder;
      return { holder: typeof parsed === "object" && parsed !== null && typeof parsed.pid === "number" ? parsed : undefined, ino, text };
    } catch {
      return { holder: undefined, ino, text };
    }
  } finally {
    closeSync(fd);
  }
}

function describe(holder: LockHolder): string {
  return `pid ${holder.pid}, started ${holder.startedAt}${holder.url ? `, listening at ${holder.url}` : ""}`;
}

/**
 * Takes DATA_DIR's lock for the embedded database: one FerretDB per set of SQLite files. The
 * lock file is made complete under a temporary name and linked into place, which fails if it
 * exists, so no reader ever sees half of one. A lock whose process is gone (killed, crashed,
 * or its pid reused) is taken over.
 */
export function acquireDataDirLock(dataDir: string, now: () => Date = () => new Date()): DataDirLock {
  const path = join(dataDir, "ferretdb.lock");
  const me: LockHolder = { pid: process.pid, processStart: processStartOf(process.pid), hostname: hostname(), startedAt: now().toISOString() };
  const write = (target: string) => writeFileSync(target, JSON.stringify(me) + "\n", { mode: 0o600 });
  const tmp = `${path}.${process.pid}.tmp`;
  write(tmp);
  try {
    for (let attempt = 0; !tryLink(tmp, path); attempt++) {
      const found = readHolder(path);
      const holder = found?.holder;
      if (holder && holderRuns(holder)) {
        throw new DataDirError(
          `DATA_DIR ${dataDir} is in use by another instance of this service (${describe(holder)}): its embedded database cannot be shared; stop that instance, or set another DATA_DIR or MONGODB_URI`,
        );
      }
      if (attempt === 3) throw new DataDirError(`the lock ${path} keeps changing: another instance is starting on DATA_DIR ${dataDir}; start one only`);
      if (found) takeOver(path, found);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  let ino = statSync(path).ino;
  const ours = () => {
    try {
      return statSync(path).ino === ino;
    } catch {
      return false;
    }
  };
  return {
    path,
    update(fields) {
      if (!ours()) return;
      Object.assign(me, fields);
      write(tmp);
      renameSync(tmp, path);
      ino = statSync(path).ino;
    },
    release() {
      if (ours()) unlinkSync(path);
    },
  };
}

/** Links the complete lock file into place; false when a lock is there already. */
function tryLink(tmp: string, path: string): boolean {
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/**
 * Moves a stale lock aside. Two instances may find the same stale lock; only one can move that
 * file, and one that moved a newer lock instead puts it back where it was.
 */
function takeOver(path: string, stale: LockFile): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  const moved = readHolder(aside);
  if (moved?.ino !== stale.ino || moved.text !== stale.text) {
    try {
      linkSync(aside, path);
    } catch {
      // Someone holds the lock now in any case; our next attempt reads who.
    }
  }
  rmSync(aside, { force: true });
}
