import { randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let used = POOL_BYTES;

/**
 * `bytes` random bytes as text, cut from a pool refilled 4 KB at a time. crypto.randomBytes
 * asks the system for each id: a system call per request, for its request id (README,
 * Performance); crypto.randomUUID pools the same way. For ids only: a key or a secret comes
 * from randomBytes, never from a buffer that outlives it.
 */
export function randomId(bytes: number, encoding: "base64url" | "hex" = "base64url"): string {
  // A whole, positive count: anything else would move `used` back and hand out bytes again.
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > POOL_BYTES) throw new RangeError(`randomId: 1 to ${POOL_BYTES} whole bytes, not ${bytes}`);
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const id = pool.toString(encoding, used, used + bytes);
  used += bytes;
  return id;
}
