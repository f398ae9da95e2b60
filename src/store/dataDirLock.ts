import { closeSync, fstatSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { procStatFields } from "../runtime/procStatFields.js";
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
  return procStatFields(pid)?.[19];
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
function readLockFile(path: string): LockFile | undefined {
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
export async function acquireDataDirLock(dataDir: string, now: () => Date = () => new Date()): Promise<DataDirLock> {
  const path = join(dataDir, "ferretdb.lock");
  const me: LockHolder = { pid: process.pid, processStart: processStartOf(process.pid), hostname: hostname(), startedAt: now().toISOString() };
  const tmp = `${path}.${process.pid}.tmp`;
  let text = "";
  const write = () => {
    text = JSON.stringify(me) + "\n";
    writeFileSync(tmp, text, { mode: 0o600 });
  };
  write();
  try {
    for (let attempt = 0; !tryLink(tmp, path); attempt++) {
      const found = readLockFile(path);
      if (!found) continue; // released meanwhile
      if (found.holder && holderRuns(found.holder)) {
        throw new DataDirError(
          `DATA_DIR ${dataDir} is in use by another instance of this service (${describe(found.holder)}): its embedded database cannot be shared; stop that instance, or set another DATA_DIR or MONGODB_URI`,
        );
      }
      if (takeOver(path, tmp, found)) break;
      if (attempt === 100) throw new DataDirError(`the lock ${path} could not be taken over: another instance keeps starting on DATA_DIR ${dataDir}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  let ino = statSync(path).ino;
  // Inode numbers are reused: a lock is ours when its inode and its text are.
  const ours = () => {
    const now = readLockFile(path);
    return now?.ino === ino && now.text === text;
  };
  return {
    path,
    update(fields) {
      if (!ours()) return;
      Object.assign(me, fields);
      write();
      renameSync(tmp, path);
      ino = statSync(path).ino;
    },
    release() {
      if (ours()) unlinkSync(path);
    },
  };
}

/** Links the complete file into place; false when something is there already. */
function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/**
 * Replaces a stale lock with ours (tmp) in one rename, so the lock never disappears in between,
 * under a guard file that lets one instance at a time do it; false when another instance is
 * taking over or the lock changed. A guard left by a process that died taking over is removed.
 */
function takeOver(path: string, tmp: string, stale: LockFile): boolean {
  const guard = `${path}.takeover`;
  if (!tryLink(tmp, guard)) {
    const left = readLockFile(guard);
    if (left && !(left.holder && holderRuns(left.holder))) rmSync(guard, { force: true });
    return false;
  }
  try {
    const still = readLockFile(path);
    if (still?.ino !== stale.ino || still.text !== stale.text) return false;
    renameSync(tmp, path);
    return true;
  } finally {
    unlinkSync(guard);
  }
}
