import { createBoundedMap } from "./boundedMap.js";

/** Token buckets by key: Genstore's callback limit per shop, our own request limits. */
export interface TokenBuckets {
  /** Takes a token for `key`; returns 0, or how many ms to wait for one. */
  take(key: string): number;
  /** Whole tokens `key` could take now. */
  available(key: string): number;
  /** Keys with a bucket that is not full (for tests of memory bounds). */
  readonly size: number;
}

/**
 * A bucket of `capacity` tokens per key, refilled at `perSecond`. A bucket left alone until it
 * is full again is the same as no bucket, so it is forgotten then; at most `maxKeys` are kept.
 */
export function createTokenBuckets(capacity: number, perSecond: number, now: () => number = Date.now, maxKeys = 100_000): TokenBuckets {
  const buckets = createBoundedMap<string, { tokens: number; at: number }>({ maxEntries: maxKeys, ttlMs: (capacity / perSecond) * 1000, now });
  const refill = (key: string) => {
    const t = now();
    const b = buckets.get(key) ?? { tokens: capacity, at: t };
    b.tokens = Math.min(capacity, b.tokens + ((t - b.at) / 1000) * perSecond);
    b.at = t;
    buckets.set(key, b);
    return b;
  };
  return {
    available: (key) => Math.floor(refill(key).tokens),
    take(key) {
      const b = refill(key);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - b.tokens) / perSecond) * 1000);
    },
    get size() {
      return buckets.size;
    },
  };
}
