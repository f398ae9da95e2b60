import { createTokenBuckets } from "../runtime/tokenBucket.js";

/**
 * Genstore's limit per shop (a bucket of 40 calls, refilled at 2 per second), kept on our side.
 * Payments over the limit wait in memory for their shop's next tokens, one timer per shop, and
 * are let go only as many as there are tokens: waiting costs no database read.
 */
export interface ShopQueue {
  /** Takes a token; 0, or ms to wait (the payment is then queued with `wait`). */
  take(shopId: string): number;
  wait(shopId: string, key: string, paymentId: string, ms: number): void;
  /** Shops out of tokens now, which a scan leaves alone. */
  throttled(now: number): string[];
  clear(): void;
}

export function createShopQueue(opts: {
  capacity: number;
  perSecond: number;
  now: () => number;
  release: (shopId: string, paymentId: string) => void;
}): ShopQueue {
  const buckets = createTokenBuckets(opts.capacity, opts.perSecond, opts.now);
  const tokenMs = 1000 / opts.perSecond;
  /** Shops out of tokens, until when. */
  const until = new Map<string, number>();
  const waiting = new Map<string, Map<string, string>>();
  const timers = new Map<string, NodeJS.Timeout>();

  function arm(shopId: string, ms: number): void {
    const timer = setTimeout(
      () => {
        timers.delete(shopId);
        const queue = waiting.get(shopId);
        if (!queue) return;
        let n = buckets.available(shopId);
        for (const [key, paymentId] of queue) {
          if (n-- <= 0) break;
          queue.delete(key);
          opts.release(shopId, paymentId);
        }
        if (queue.size > 0) arm(shopId, tokenMs);
        else waiting.delete(shopId);
      },
      Math.max(1, ms),
    );
    timer.unref();
    timers.set(shopId, timer);
  }

  return {
    take: (shopId) => buckets.take(shopId),
    wait(shopId, key, paymentId, ms) {
      until.set(shopId, opts.now() + ms);
      const queue = waiting.get(shopId) ?? new Map<string, string>();
      queue.set(key, paymentId);
      waiting.set(shopId, queue);
      if (!timers.has(shopId)) arm(shopId, ms);
    },
    throttled(now) {
      for (const [shop, t] of until) if (t <= now) until.delete(shop);
      return [...until.keys()];
    },
    clear() {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      waiting.clear();
    },
  };
}
