import type { HttpPut } from "./httpPut.js";
import type { KeyedMutex } from "../runtime/keyedMutex.js";
import { noObserver, type CallbackObserver } from "../payments/observer.js";
import { createPeriodicTask } from "../runtime/periodicTask.js";
import type { PaymentRecord, PaymentRepository } from "../payments/records.js";
import type { ShopDirectory } from "../payments/shops.js";
import { drainOutbox, type DrainContext } from "./drainOutbox.js";
import { createOutboxWriter } from "./outboxWriter.js";
import { nextDue } from "./retryPolicy.js";
import { createShopQueue } from "./shopQueue.js";
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
  /** How long a callback is retried before it is parked for an operator (decisions.md D7: ≥ 72 h). */
  retryWindowMs?: number;
  rateLimit?: { capacity: number; perSecond: number };
  concurrency?: number;
  now?: () => Date;
  random?: () => number;
  /** The HTTP client callbacks go through (node:http(s) with kept-alive connections by default). */
  put?: HttpPut;
  observer?: CallbackObserver;
  /**
   * Several instances on one database: runs a payment's drain holding its delivery lease, so that
   * one instance at a time sends a payment's callbacks, in order; `{ held: false }` when another
   * instance holds it (it delivers them; if it dies, a scan here does after the lease expires).
   */
  exclusive?: Exclusive;
}

export type Exclusive = <T>(shopId: string, paymentId: string, task: () => Promise<T>) => Promise<{ held: true; value: T } | { held: false }>;

/** How soon a notification whose payment another instance was draining is tried again. */
const busyElsewhereRetryMs = 250;

/**
 * A drain that failed (the database slow or away) is tried again in a second or two, not left to
 * the next scan: on a large FerretDB collection the scan itself may not answer within the bound.
 */
function failed(ctx: DrainContext, shopId: string, paymentId: string, err: unknown): void {
  ctx.log({ level: "error", msg: "callback dispatch failed", shopId, paymentId, error: String(err) });
  ctx.wakeAt(shopId, paymentId, ctx.now().getTime() + 1000 + Math.floor(ctx.policy.random() * 1000));
}

/** Runs a drain, under the delivery lease when instances share the database. */
async function exclusively(opts: DispatcherOptions, shopId: string, paymentId: string, drain: () => Promise<number>, busyElsewhere?: () => void) {
  if (!opts.exclusive) return drain();
  const result = await opts.exclusive(shopId, paymentId, drain);
  if (result.held) return result.value;
  busyElsewhere?.();
  return 0;
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

/**
 * Delivers the outbox: each payment's pending callbacks in order, at least once, with
 * exponential backoff and full jitter, Retry-After honoured, and Genstore's rate limit per shop.
 */
export function createCallbackDispatcher(opts: DispatcherOptions): CallbackDispatcher {
  const now = opts.now ?? (() => new Date());
  const busy = new Set<string>();
  const inFlight = new Set<Promise<unknown>>();
  let running = false;
  const wakeups = createWakeups(
    () => now().getTime(),
    (shopId, paymentId) => processOne(shopId, paymentId),
  );
  const wakeAt = (shopId: string, paymentId: string, at: number) => running && wakeups.at(opts.lockKey(shopId, paymentId), shopId, paymentId, at);
  /** Payments notified while being drained: drain them again after. */
  const again = new Set<string>();
  const queue = createShopQueue({
    capacity: opts.rateLimit?.capacity ?? 40,
    perSecond: opts.rateLimit?.perSecond ?? 2,
    now: () => now().getTime(),
    release: (shopId, paymentId) => running && processOne(shopId, paymentId),
  });
  const ctx = drainContext(opts, now, queue, wakeAt);

  /** Drains one payment's outbox, unless it is being drained already (then once more after). */
  function processOne(shopId: string, paymentId: string, snapshot?: PaymentRecord): void {
    const key = opts.lockKey(shopId, paymentId);
    if (busy.has(key)) {
      again.add(key);
      return;
    }
    busy.add(key);
    // Shared: read under the lease (another instance may have delivered since the snapshot).
    const drain = () =>
      (snapshot && !opts.exclusive ? Promise.resolve(snapshot) : opts.repository.findPayment(shopId, paymentId)).then((p) => drainOutbox(ctx, p));
    const pass = exclusively(opts, shopId, paymentId, drain, () => wakeAt(shopId, paymentId, now().getTime() + busyElsewhereRetryMs))
      .catch((err) => failed(ctx, shopId, paymentId, err))
      .finally(() => {
        busy.delete(key);
        inFlight.delete(pass);
        if (again.delete(key)) processOne(shopId, paymentId);
      });
    inFlight.add(pass);
  }

  /** One scan of the outbox for what no notification announced, shops over their limit left out. */
  const runOnce = () =>
    scanOutbox(opts, ctx, busy, queue.throttled(now().getTime()), (shopId, paymentId) => {
      // A notification that came while the scan drained this payment.
      if (again.delete(opts.lockKey(shopId, paymentId))) processOne(shopId, paymentId);
    });

  const scans = createPeriodicTask(runOnce, opts.pollMs ?? 30_000, (err) =>
    opts.log({ level: "error", msg: "callback dispatch pass failed", error: String(err) }),
  );

  return {
    start() {
      if (running) return;
      running = true;
      // The first scan runs at once: it picks up what the last run left pending.
      scans.start(true);
    },
    notify(shopId, paymentId, snapshot) {
      if (running) setImmediate(() => running && processOne(shopId, paymentId, snapshot)); // after this I/O turn: the answer to Genstore goes first
    },
    async stop() {
      running = false;
      await scans.stop();
      wakeups.clear();
      queue.clear();
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    runOnce,
    async redeliver(shopId, paymentId, callbackId) {
      const count = await redeliverParked(opts, now(), shopId, paymentId, callbackId);
      if (count > 0 && running) processOne(shopId, paymentId);
      return count;
    },
    get running() {
      return running;
    },
  };
}

/** Puts parked callbacks back to pending, their retry window starting again now. */
async function redeliverParked(opts: DispatcherOptions, at: Date, shopId: string, paymentId: string, callbackId: string | undefined): Promise<number> {
  return opts.mutex.run(opts.lockKey(shopId, paymentId), async () => {
    const p = await opts.repository.findPayment(shopId, paymentId);
    if (!p) return 0;
    let count = 0;
    for (const cb of p.callbacks) {
      if (cb.state !== "parked" || (callbackId && cb.id !== callbackId)) continue;
      cb.state = "pending";
      cb.nextAttemptAt = at;
      delete cb.parkedReason;
      cb.retryFrom = at;
      count++;
    }
    // An operator's change: a delivery attempt under way from an older copy must not write over it.
    if (count > 0) await opts.repository.saveCallbacks(shopId, paymentId, p.callbacks, nextDue(p.callbacks), { from: p.version ?? 0 });
    return count;
  });
}

/** Retry timers, one per payment: the earliest wins. */
function createWakeups(now: () => number, wake: (shopId: string, paymentId: string) => void) {
  const timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  return {
    at(key: string, shopId: string, paymentId: string, at: number): void {
      const existing = timers.get(key);
      if (existing && existing.at <= at) return;
      if (existing) clearTimeout(existing.timer);
      const timer = setTimeout(
        () => {
          timers.delete(key);
          wake(shopId, paymentId);
        },
        Math.max(0, at - now()),
      );
      timer.unref();
      timers.set(key, { at, timer });
    },
    clear(): void {
      for (const w of timers.values()) clearTimeout(w.timer);
      timers.clear();
    },
  };
}

/** Drains the due payments of one scan, at most `concurrency` at a time; how many callbacks were tried. */
async function scanOutbox(
  opts: DispatcherOptions,
  ctx: DrainContext,
  busy: Set<string>,
  throttledShops: string[],
  released: (shopId: string, paymentId: string) => void,
): Promise<number> {
  const due = await opts.repository.findDueCallbacks(ctx.now(), 100, throttledShops);
  const work = due.map((p) => async () => {
    const key = opts.lockKey(p.shopId, p._id);
    // Checked when its turn comes, not when the scan read it: a notification may have drained it
    // since, and the scan's copy would still show its callback pending (a second delivery).
    if (busy.has(key)) return 0;
    busy.add(key);
    try {
      return await exclusively(opts, p.shopId, p._id, async () => drainOutbox(ctx, await opts.repository.findPayment(p.shopId, p._id)));
    } catch (err) {
      failed(ctx, p.shopId, p._id, err);
      return 0;
    } finally {
      busy.delete(key);
      released(p.shopId, p._id);
    }
  });
  let attempted = 0;
  const limit = opts.concurrency ?? 8;
  for (let i = 0; i < work.length; i += limit) {
    for (const n of await Promise.all(work.slice(i, i + limit).map((w) => w()))) attempted += n;
  }
  return attempted;
}

function drainContext(opts: DispatcherOptions, now: () => Date, queue: DrainContext["queue"], wakeAt: DrainContext["wakeAt"]): DrainContext {
  return {
    repository: opts.repository,
    shops: opts.shops,
    mutex: opts.mutex,
    lockKey: opts.lockKey,
    log: opts.log,
    observer: opts.observer ?? noObserver,
    policy: {
      baseMs: opts.backoffBaseMs ?? 1000,
      maxMs: opts.backoffMaxMs ?? 3_600_000,
      windowMs: opts.retryWindowMs ?? 72 * 3_600_000,
      random: opts.random ?? Math.random,
    },
    queue,
    now,
    timeoutMs: opts.timeoutMs ?? 10_000,
    put: opts.put,
    wakeAt,
    outbox: createOutboxWriter({ repository: opts.repository, mutex: opts.mutex, lockKey: opts.lockKey }),
  };
}
