import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isP256 } from "./genstoreV1.js";

export interface CardKey {
  privateKey: KeyObject;
  /** The public key to register with Genstore: base64 SubjectPublicKeyInfo DER. */
  publicKeySpki: string;
}

export interface Keyring {
  keys: CardKey[];
  /** Where the keys came from, for the start-up log (never the key itself). */
  source: string;
}

export class KeyringError extends Error {
  override name = "KeyringError";
}

function toCardKey(privateKey: KeyObject, where: string): CardKey {
  if (!isP256(privateKey)) {
    throw new KeyringError(`${where} is not a P-256 (prime256v1) EC private key`);
  }
  const publicKeySpki = createPublicKey(privateKey).export({ format: "der", type: "spki" }).toString("base64");
  return { privateKey, publicKeySpki };
}

/** Reads one key given as PEM or as base64 PKCS#8 DER. */
export function parsePrivateKey(text: string, where: string): CardKey {
  const t = text.trim();
  try {
    const key = t.includes("-----BEGIN")
      ? createPrivateKey({ key: t, format: "pem" })
      : createPrivateKey({ key: Buffer.from(t.replace(/\s+/g, ""), "base64"), format: "der", type: "pkcs8" });
    return toCardKey(key, where);
  } catch (err) {
    if (err instanceof KeyringError) throw err;
    throw new KeyringError(`${where} is not a PEM or base64 PKCS#8 private key`);
  }
}

/** Several keys in one file: PEM blocks, or one base64 PKCS#8 key per line. */
export function parsePrivateKeys(text: string, where: string): CardKey[] {
  const pems = text.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g);
  const items =
    pems ??
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
  if (items.length === 0) throw new KeyringError(`${where} holds no private key`);
  return items.map((item, i) => parsePrivateKey(item, `${where} key #${i + 1}`));
}

export function generateCardKeyPem(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

export interface KeyringOptions {
  env: Record<string, string | undefined>;
  dataDir: string;
  production: boolean;
}

/**
 * CARD_PRIVATE_KEYS_FILE (rotation: every key in it is tried), else CARD_PRIVATE_KEY, else
 * outside production a dev key generated once into DATA_DIR and reused (decisions.md D14).
 */
export function loadKeyring({ env, dataDir, production }: KeyringOptions): Keyring {
  const file = env.CARD_PRIVATE_KEYS_FILE;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new KeyringError(`CARD_PRIVATE_KEYS_FILE ${file} cannot be read`);
    }
    return { keys: parsePrivateKeys(text, "CARD_PRIVATE_KEYS_FILE"), source: `CARD_PRIVATE_KEYS_FILE ${file}` };
  }
  if (env.CARD_PRIVATE_KEY) return { keys: [parsePrivateKey(env.CARD_PRIVATE_KEY, "CARD_PRIVATE_KEY")], source: "CARD_PRIVATE_KEY" };
  if (production) {
    throw new KeyringError("no card decryption key: set CARD_PRIVATE_KEY or CARD_PRIVATE_KEYS_FILE (NODE_ENV=production never generates one)");
  }
  const path = join(dataDir, "keys", "card-dev-key.pem");
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, generateCardKeyPem(), { mode: 0o600, flag: "wx" });
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  return { keys: parsePrivateKeys(readFileSync(path, "utf8"), path), source: `dev key ${path} (generated; not for production)` };
}
