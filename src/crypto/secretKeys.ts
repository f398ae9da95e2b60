import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { KeyringError } from "./keyring.js";

/**
 * A 32-byte key from an environment variable (base64), or outside production one generated
 * once into DATA_DIR/keys/<file> and reused after, like the dev card key.
 */
export function loadSecretKey(
  variable: string,
  value: string | undefined,
  dataDir: string,
  file: string,
  production: boolean,
): { key: Buffer; source: string } {
  if (value) {
    const key = Buffer.from(value.trim(), "base64");
    if (key.length !== 32) throw new KeyringError(`${variable} must be 32 bytes in base64 (openssl rand -base64 32)`);
    return { key, source: variable };
  }
  if (production) throw new KeyringError(`${variable} is not set (NODE_ENV=production never generates one): openssl rand -base64 32`);
  const path = join(dataDir, "keys", file);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, randomBytes(32).toString("base64") + "\n", { mode: 0o600, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  const { key } = loadSecretKey(variable, readFileSync(path, "utf8"), dataDir, file, production);
  return { key, source: `dev key ${path} (generated; not for production)` };
}
