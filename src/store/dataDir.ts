import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

export class DataDirError extends Error {
  override name = "DataDirError";
}

/**
 * DATA_DIR holds the embedded database (payments, shops) and development keys: only the
 * service's user may read it. Makes the folder 0700 and everything under it 0700 (folders) or
 * 0600 (files), and returns what it had to tighten, so start-up can say so.
 */
export function secureDataDir(dir: string): string[] {
  const fixed: string[] = [];
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const walk = (path: string) => {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) return;
      const want = st.isDirectory() ? 0o700 : 0o600;
      if ((st.mode & 0o777) !== want) {
        chmodSync(path, want);
        fixed.push(path);
      }
      if (st.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    };
    walk(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DataDirError(`DATA_DIR ${dir} cannot be made private to this user (${e.code ?? e.message}): fix its owner or choose another DATA_DIR`);
  }
  return fixed;
}
