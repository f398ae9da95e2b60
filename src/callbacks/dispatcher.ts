import type { KeyedMutex } from "../runtime/keyedMutex.js";
import { noObserver, type CallbackObserver } from "../payments/observer.js";
import { createPeriodicTask } from "../runtime/periodicTask.js";
import type { CallbackAttempt, CallbackRecord, PaymentRecord, PaymentRepository } from "../payments/records.js";
import type { ShopDirectory } from "../payments/shops.js";
import { callbackPath } from "../payments/callbackBody.js";
import { deliverCallback, type DeliveryResult } from "./deliver.js";
import { createTokenBuckets } from "../runtime/tokenBucket.js";

export interface DispatcherOptions {
  repository: PaymentRepository;
  shops: ShopDirectory;
  /** The same per-payment lock as the use cases: the outbox is rewritten under it. */
  mutex: KeyedMutex;
  lockKey: (shopId: string, paymentId: string) => string;
  log: (e: Record<string, unknown>) => void;
  /** How often the whole outbox is scanned for what no notification announced (restarts, other instances). */
  pollMs?: number;
  timeoutMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** How long a callback is retried before it is parked for an operator (design §2.7: ≥ 72 h). */
  retryWindowMs?: number;
  rateLimit?: { capacity: number; perSecond: number };
  concurrency?: number;
  now?: () => Date;
  random?: () => number;
  fetchImpl?: typeof fetch;
  observer?: CallbackObserver;
}

export interface CallbackDispatcher {
  start(): void;
  /**
   * A callback was queued on this payment: deliver it now rather than at the next scan.
   * `snapshot`, the payment as just written, saves a read.
   */
  notify(shopId: string, paymentId: string, snapshot?: PaymentRecord): void;
  /** Stops polling and waits for deliveries under way. */
  stop(): Promise<void>;
  /** One pass over due payments; returns how many callbacks were attempted. */
  runOnce(): Promise<number>;
  /** Puts parked callbacks back to pending: one by id, or all of the payment's. Returns how many. */
  redeliver(shopId: string, paymentId: string, callbackId?: string): Promise<number>;
  readonly running: boolean;
}

/** When the next pending callback is due; the outbox is delivered in order. */
function nextDue(callbacks: CallbackRecord[]): Date | null {
  const head = callbacks.find((c) => c.state === "pending");
  return head ? (head.nextAttemptAt ?? new Date(0)) : null;
}

/**
 * Delivers the outbox: each payment's pending callbacks in order, at least once, with
 * exponential backoff and full jitter, Retry-After honoured, and Genstore's rate limit per shop.
 */
export function createCallbackDispatcher(opts: DispatcherOptions): CallbackDispatcher {
  const now = opts.now ?? (() => new Date());
  const random = opts.random ?? Math.random;
  const observer = opts.observer ?? noObserver;
  const pollMs = opts.pollMs ?? 30_000;
  const baseMs = opts.backoffBaseMs ?? 1000;
  const maxMs = opts.backoffMaxMs ?? 3_600_000;
  const windowMs = opts.retryWindowMs ?? 72 * 3_600_000;
  const buckets = createTokenBuckets(opts.rateLimit?.capacity ?? 40, opts.rateLimit?.perSecond ?? 2, () => now().getTime());
  const busy = new Set<string>();
  /** Shops out of tokens, until when. */
  const throttled = new Map<string, number>();
  /** Payments waiting for their shop's next token, and one timer per shop to let them go. */
  const waiting = new Map<string, Map<string, string>>();
  const shopTimers = new Map<string, NodeJS.Timeout>();
  const tokenMs = 1000 / (opts.rateLimit?.perSecond ?? 2);

  function waitForToken(shopId: string, paymentId: string, ms: number): void {
    const queue = waiting.get(shopId) ?? new Map<string, string>();
    queue.set(opts.lockKey(shopId, paymentId), paymentId);
    waiting.set(shopId, queue);
    if (!shopTimers.has(shopId)) armShop(shopId, ms);
  }

  function armShop(shopId: string, ms: number): void {
    const timer = setTimeout(
      () => {
        shopTimers.delete(shopId);
        const queue = waiting.get(shopId);
        if (!queue || !running) return;
        // Let go only as many as there are tokens; the rest wait without touching the database.
        let n = buckets.available(shopId);
        for (const [key, paymentId] of queue) {
          if (n-- <= 0) break;
          queue.delete(key);
          processOne(shopId, paymentId);
        }
        if (queue.size > 0) armShop(shopId, tokenMs);
        else waiting.delete(shopId);
      },
      Math.max(1, ms),
    );
    timer.unref();
    shopTimers.set(shopId, timer);
  }
  const inFlight = new Set<Promise<unknown>>();
  let running = false;
  /** Retry timers, one per payment: the earliest wins. */
  const wakeups = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  /** Payments notified while being drained: drain them again after. */
  const again = new Set<string>();

  function wakeAt(shopId: string, paymentId: string, at: number): void {
    if (!running) return;
    const key = opts.lockKey(shopId, paymentId);
    const existing = wakeups.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(
      () => {
        wakeups.delete(key);
        processOne(shopId, paymentId);
      },
      Math.max(0, at - now().getTime()),
    );
    timer.unref();
    wakeups.set(key, { at, timer });
  }

  /** Drains one payment's outbox, unless it is being drained already (then once more after). */
  function processOne(shopId: string, paymentId: string, snapshot?: PaymentRecord): void {
    const key = opts.lockKey(shopId, paymentId);
    if (busy.has(key)) {
      again.add(key);
      return;
    }
    busy.add(key);
    const pass = (snapshot ? Promise.resolve(snapshot) : opts.repository.findPayment(shopId, paymentId))
      .then(drain)
      .catch((err) => opts.log({ level: "error", msg: "callback dispatch failed", shopId, paymentId, error: String(err) }))
      .finally(() => {
        busy.delete(key);
        inFlight.delete(pass);
        if (again.delete(key)) processOne(shopId, paymentId);
      });
    inFlight.add(pass);
  }

  /** Rewrites one callback of a payment under its lock, from a fresh read. */
  function updateCallback(p: PaymentRecord, id: string, change: (cb: CallbackRecord) => void): Promise<PaymentRecord | null> {
    return opts.mutex.run(opts.lockKey(p.shopId, p._id), async () => {
      const fresh = await opts.repository.findPayment(p.shopId, p._id);
      if (!fresh) return null;
      const cb = fresh.callbacks.find((c) => c.id === id);
      if (cb) change(cb);
      const next = nextDue(fresh.callbacks);
      await opts.repository.saveCallbacks(fresh.shopId, fresh._id, fresh.callbacks, next);
      return { ...fresh, nextCallbackAt: next };
    });
  }

  function backoff(attempts: number): number {
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 30));
    return Math.floor(random() * ceiling);
  }

  function record(cb: CallbackRecord, result: DeliveryResult | { kind: "refused"; error: string; durationMs: number }, at: Date): void {
    const attempt: CallbackAttempt = {
      at,
      durationMs: result.durationMs,
      ...("httpStatus" in result && result.httpStatus ? { httpStatus: result.httpStatus } : {}),
      ...("error" in result ? { error: result.error } : {}),
    };
    cb.attempts.push(attempt);
    if (result.kind === "delivered") {
      cb.state = "delivered";
      cb.deliveredAt = at;
      cb.nextAttemptAt = null;
    } else if (result.kind === "refused") {
      cb.state = "parked";
      cb.parkedReason = result.error;
      cb.nextAttemptAt = null;
    } else {
      const wait = result.retryAfterMs ?? backoff(cb.attempts.length);
      const windowStart = cb.retryFrom ?? cb.createdAt;
      if (at.getTime() + wait - new Date(windowStart).getTime() > windowMs) {
        cb.state = "parked";
        cb.parkedReason = `still failing after ${Math.round(windowMs / 3_600_000)} h: ${result.error}`;
        cb.nextAttemptAt = null;
      } else {
        cb.nextAttemptAt = new Date(at.getTime() + wait);
      }
    }
  }

  /** Delivers this payment's pending callbacks in order until one is not delivered. */
  async function drain(p: PaymentRecord | null): Promise<number> {
    let attempted = 0;
    const tried = new Set<string>();
    while (p) {
      const cb = p.callbacks.find((c) => c.state === "pending");
      // One attempt per callback per drain, whatever the record says afterwards.
      if (cb && tried.has(cb.id)) return attempted;
      if (cb) tried.add(cb.id);
      const at = now();
      if (!cb) {
        if (p.nextCallbackAt) p = await updateCallback(p, "", () => {});
        return attempted;
      }
      if (cb.nextAttemptAt && new Date(cb.nextAttemptAt) > at) {
        if (!p.nextCallbackAt || new Date(p.nextCallbackAt).getTime() !== new Date(cb.nextAttemptAt).getTime()) await updateCallback(p, cb.id, () => {});
        wakeAt(p.shopId, p._id, new Date(cb.nextAttemptAt).getTime());
        return attempted;
      }
      let shop;
      try {
        shop = await opts.shops.get(p.shopId);
      } catch (err) {
        await updateCallback(p, cb.id, (c) => record(c, { kind: "retry", error: (err as Error).message, durationMs: 0 }, at));
        return attempted;
      }
      if (!shop.genstoreAccessToken) {
        const error = "the shop has no Genstore access token: set it with ShopService.UpdateShop, then redeliver";
        p = await updateCallback(p, cb.id, (c) => record(c, { kind: "refused", error, durationMs: 0 }, at));
        observer.parked(cb.kind);
        opts.log({ level: "warn", msg: "callback parked", shopId: p?.shopId, paymentId: cb.body.paymentId, callback: cb.id, reason: error });
        return attempted;
      }
      // Over Genstore's limit for this shop: leave it due (no write); other shops go first.
      const wait = buckets.take(p.shopId);
      if (wait > 0) {
        throttled.set(p.shopId, at.getTime() + wait);
        waitForToken(p.shopId, p._id, wait);
        return attempted;
      }
      attempted++;
      const result = await deliverCallback(
        shop.callbackBaseUrl + callbackPath(cb.kind, cb.targetId),
        cb.body,
        shop.genstoreAccessToken,
        opts.timeoutMs ?? 10_000,
        opts.fetchImpl,
      );
      const paymentId = p._id;
      p = await updateCallback(p, cb.id, (c) => record(c, result, now()));
      const after = p?.callbacks.find((c) => c.id === cb.id);
      observer.attempt(result.kind);
      if (after?.state === "delivered") observer.delivered(cb.kind, now().getTime() - new Date(cb.createdAt).getTime());
      if (after?.state === "parked") observer.parked(cb.kind);
      opts.log({
        level: result.kind === "delivered" ? "info" : "warn",
        msg: result.kind === "delivered" ? "callback delivered" : after?.state === "parked" ? "callback parked" : "callback failed, will retry",
        shopId: p?.shopId,
        paymentId,
        callback: cb.id,
        attempt: after?.attempts.length,
        ...("httpStatus" in result ? { httpStatus: result.httpStatus } : {}),
        ...(result.kind !== "delivered" ? { error: result.error } : {}),
        ...(after?.nextAttemptAt ? { nextAttemptAt: after.nextAttemptAt } : {}),
      });
      if (result.kind !== "delivered") {
        if (p && after?.nextAttemptAt) wakeAt(p.shopId, p._id, new Date(after.nextAttemptAt).getTime());
        return attempted;
      }
    }
    return attempted;
  }

  async function runOnce(): Promise<number> {
    const t = now().getTime();
    for (const [shop, until] of throttled) if (until <= t) throttled.delete(shop);
    const due = await opts.repository.findDueCallbacks(now(), 100, [...throttled.keys()]);
    const work = due
      .filter((p) => !busy.has(opts.lockKey(p.shopId, p._id)))
      .map(async (p) => {
        const key = opts.lockKey(p.shopId, p._id);
        busy.add(key);
        try {
          return await drain(p);
        } catch (err) {
          opts.log({ level: "error", msg: "callback dispatch failed", shopId: p.shopId, paymentId: p._id, error: String(err) });
          return 0;
        } finally {
          busy.delete(key);
        }
      });
    let attempted = 0;
    const limit = opts.concurrency ?? 8;
    for (let i = 0; i < work.length; i += limit) {
      for (const n of await Promise.all(work.slice(i, i + limit))) attempted += n;
    }
    return attempted;
  }

  const scans = createPeriodicTask(runOnce, pollMs, (err) => opts.log({ level: "error", msg: "callback dispatch pass failed", error: String(err) }));

  return {
    start() {
      if (running) return;
      running = true;
      // The first scan runs at once: it picks up what the last run left pending.
      scans.start(true);
    },
    notify(shopId, paymentId, snapshot) {
      if (running) processOne(shopId, paymentId, snapshot);
    },
    async stop() {
      running = false;
      await scans.stop();
      for (const w of wakeups.values()) clearTimeout(w.timer);
      wakeups.clear();
      for (const t of shopTimers.values()) clearTimeout(t);
      shopTimers.clear();
      waiting.clear();
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    runOnce,
    async redeliver(shopId, paymentId, callbackId) {
      let count = 0;
      await opts.mutex.run(opts.lockKey(shopId, paymentId), async () => {
        const p = await opts.repository.findPayment(shopId, paymentId);
        if (!p) return;
        const at = now();
        for (const cb of p.callbacks) {
          if (cb.state !== "parked" || (callbackId && cb.id !== callbackId)) continue;
          cb.state = "pending";
          cb.nextAttemptAt = at;
          delete cb.parkedReason;
          cb.retryFrom = at;
          count++;
        }
        if (count > 0) await opts.repository.saveCallbacks(shopId, paymentId, p.callbacks, nextDue(p.callbacks));
      });
      if (count > 0 && running) processOne(shopId, paymentId);
      return count;
    },
    get running() {
      return running;
    },
  };
}
