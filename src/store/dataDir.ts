import { accessSync, chmodSync, constants, lstatSync, mkdirSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";

export class DataDirError extends Error {
  override name = "DataDirError";
}

/** What a failed mkdir or stat of DATA_DIR means for the operator, and what to do. */
function pathProblem(dir: string, code: string | undefined): string {
  switch (code) {
    case "ENOTDIR":
      return `DATA_DIR ${dir} cannot be used: part of that path is a file, not a folder; set DATA_DIR to a folder path`;
    case "EACCES":
    case "EPERM":
      return `DATA_DIR ${dir} cannot be created or reached by this user (${code}): create it for this user, or set DATA_DIR to a folder it can write`;
    case "EROFS":
      return `DATA_DIR ${dir} is on a read-only file system: set DATA_DIR to a writable folder`;
    default:
      return `DATA_DIR ${dir} cannot be used (${code ?? "unknown error"}): set DATA_DIR to a writable folder`;
  }
}

/** DATA_DIR exists (or is created) as a folder this user can write; else a one-line reason. */
export function ensureDataDir(dir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw new DataDirError(pathProblem(dir, code));
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (mkdirErr) {
      throw new DataDirError(pathProblem(dir, (mkdirErr as NodeJS.ErrnoException).code));
    }
    return;
  }
  if (!isDirectory) throw new DataDirError(`DATA_DIR ${dir} is a file, not a folder: set DATA_DIR to a folder (it is created when missing)`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new DataDirError(
      `DATA_DIR ${dir} is not writable by this user (uid ${process.getuid?.() ?? "?"}): give it to this user, or set DATA_DIR to a folder it can write`,
    );
  }
}

/**
 * DATA_DIR holds the embedded database (payments, shops) and development keys: only the
 * service's user may read it. Makes the folder 0700 and everything under it 0700 (folders) or
 * 0600 (files; a socket closed to others is left as it is), and returns what it had to tighten,
 * so start-up can say so.
 */
export function secureDataDir(dir: string): string[] {
  ensureDataDir(dir);
  const fixed: string[] = [];
  try {
    const walk = (path: string) => {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) return;
      // A socket (the embedded database's, left by a killed FerretDB) needs only to be this user's.
      if (st.isSocket() && (st.mode & 0o077) === 0) return;
      const want = st.isDirectory() ? 0o700 : 0o600;
      if ((st.mode & 0o777) !== want) {
        chmodSync(path, want);
        fixed.push(path);
      }
      if (st.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    };
    // DATA_DIR itself may be a symlink (to a bigger disk, say): the folder it names is made
    // private. Symlinks inside it are not followed.
    walk(realpathSync(dir));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DataDirError(`DATA_DIR ${dir} cannot be made private to this user (${e.code ?? e.message}): fix its owner or choose another DATA_DIR`);
  }
  return fixed;
}
