/** Genstore's documented limit: a bucket of 40 calls per app and shop, refilled at 2 per second. */
export interface TokenBuckets {
  /** Takes a token for `key`; returns 0, or how many ms to wait for one. */
  take(key: string): number;
  /** Whole tokens `key` could take now. */
  available(key: string): number;
}

export function createTokenBuckets(capacity: number, perSecond: number, now: () => number = Date.now): TokenBuckets {
  const buckets = new Map<string, { tokens: number; at: number }>();
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
  };
}
