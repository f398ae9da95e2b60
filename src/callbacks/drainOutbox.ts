import type { HttpPut } from "./httpPut.js";
import type { Logger } from "../observability/logger.js";
import { callbackPath } from "../payments/callbackBody.js";
import type { CallbackObserver } from "../payments/observer.js";
import type { CallbackRecord, PaymentRecord, PaymentRepository } from "../payments/records.js";
import type { ShopConfig, ShopDirectory } from "../payments/shops.js";
import type { KeyedMutex } from "../runtime/keyedMutex.js";
import { deliverCallback, type DeliveryResult } from "./deliver.js";
import type { OutboxWriter } from "./outboxWriter.js";
import { nextDue, recordAttempt, type AttemptResult, type RetryPolicy } from "./retryPolicy.js";
import type { ShopQueue } from "./shopQueue.js";

/** What draining an outbox needs; the dispatcher holds one. */
export interface DrainContext {
  repository: PaymentRepository;
  shops: ShopDirectory;
  mutex: KeyedMutex;
  lockKey: (shopId: string, paymentId: string) => string;
  log: Logger;
  observer: CallbackObserver;
  policy: RetryPolicy;
  queue: ShopQueue;
  now: () => Date;
  timeoutMs: number;
  put?: HttpPut | undefined;
  outbox: OutboxWriter;
  /** Asks for another drain of the payment at `at` (a retry timer). */
  wakeAt: (shopId: string, paymentId: string, at: number) => void;
}

/** Rewrites one callback of a payment under its lock, from a fresh read. */
export function updateCallback(ctx: DrainContext, p: PaymentRecord, id: string, change: (cb: CallbackRecord) => void): Promise<PaymentRecord | null> {
  return ctx.mutex.run(ctx.lockKey(p.shopId, p._id), async () => {
    const fresh = await ctx.repository.findPayment(p.shopId, p._id);
    if (!fresh) return null;
    const cb = fresh.callbacks.find((c) => c.id === id);
    if (cb) change(cb);
    const next = nextDue(fresh.callbacks);
    await ctx.repository.saveCallbacks(fresh.shopId, fresh._id, fresh.callbacks, next);
    return { ...fresh, nextCallbackAt: next };
  });
}

/** An attempt's bookkeeping, batched with other payments' (see outboxWriter.ts). */
const record = (ctx: DrainContext, p: PaymentRecord, cb: CallbackRecord, result: AttemptResult, at: Date) =>
  ctx.outbox.record(p, cb.id, (c) => recordAttempt(c, result, at, ctx.policy));

/** The shop to deliver to, or why not now: undefined after recording a retry or a parking. */
async function deliverableShop(
  ctx: DrainContext,
  p: PaymentRecord,
  cb: CallbackRecord,
  at: Date,
): Promise<(ShopConfig & { genstoreAccessToken: string }) | undefined> {
  let shop: ShopConfig;
  try {
    shop = await ctx.shops.get(p.shopId);
  } catch (err) {
    await record(ctx, p, cb, { kind: "retry", error: (err as Error).message, durationMs: 0 }, at);
    return undefined;
  }
  if (!shop.genstoreAccessToken) {
    const error = "the shop has no Genstore access token: set it with ShopService.UpdateShop, then redeliver";
    await record(ctx, p, cb, { kind: "refused", error, durationMs: 0 }, at);
    ctx.observer.parked(cb.kind);
    ctx.log({ level: "warn", msg: "callback parked", shopId: p.shopId, paymentId: cb.body.paymentId, callback: cb.id, reason: error });
    return undefined;
  }
  return shop as ShopConfig & { genstoreAccessToken: string };
}

/** One attempt at one callback, recorded, observed and logged; the payment as written after it. */
async function attempt(
  ctx: DrainContext,
  p: PaymentRecord,
  cb: CallbackRecord,
  shop: ShopConfig & { genstoreAccessToken: string },
): Promise<{ p: PaymentRecord | null; delivered: boolean }> {
  const result: DeliveryResult = await deliverCallback(
    shop.callbackBaseUrl + callbackPath(cb.kind, cb.targetId),
    cb.body,
    shop.genstoreAccessToken,
    ctx.timeoutMs,
    ctx.put,
  );
  const written = await record(ctx, p, cb, result, ctx.now());
  const after = written?.callbacks.find((c) => c.id === cb.id);
  ctx.observer.attempt(result.kind);
  if (after?.state === "delivered") ctx.observer.delivered(cb.kind, ctx.now().getTime() - new Date(cb.createdAt).getTime());
  if (after?.state === "parked") ctx.observer.parked(cb.kind);
  ctx.log({
    level: result.kind === "delivered" ? "info" : "warn",
    msg: result.kind === "delivered" ? "callback delivered" : after?.state === "parked" ? "callback parked" : "callback failed, will retry",
    shopId: p.shopId,
    paymentId: p._id,
    callback: cb.id,
    attempt: after?.attempts.length,
    ...("httpStatus" in result ? { httpStatus: result.httpStatus } : {}),
    ...(result.kind !== "delivered" ? { error: result.error } : {}),
    ...(after?.nextAttemptAt ? { nextAttemptAt: after.nextAttemptAt } : {}),
  });
  if (result.kind !== "delivered" && written && after?.nextAttemptAt) ctx.wakeAt(p.shopId, p._id, new Date(after.nextAttemptAt).getTime());
  return { p: written, delivered: result.kind === "delivered" };
}

/** Delivers this payment's pending callbacks in order until one is not delivered; how many were tried. */
export async function drainOutbox(ctx: DrainContext, start: PaymentRecord | null): Promise<number> {
  let attempted = 0;
  const tried = new Set<string>();
  for (let p = start; p;) {
    const cb = p.callbacks.find((c) => c.state === "pending");
    if (!cb) {
      if (p.nextCallbackAt) await updateCallback(ctx, p, "", () => {});
      return attempted;
    }
    // One attempt per callback per drain, whatever the record says afterwards.
    if (tried.has(cb.id)) return attempted;
    tried.add(cb.id);
    const at = ctx.now();
    if (cb.nextAttemptAt && new Date(cb.nextAttemptAt) > at) {
      if (!p.nextCallbackAt || new Date(p.nextCallbackAt).getTime() !== new Date(cb.nextAttemptAt).getTime()) await updateCallback(ctx, p, cb.id, () => {});
      ctx.wakeAt(p.shopId, p._id, new Date(cb.nextAttemptAt).getTime());
      return attempted;
    }
    const shop = await deliverableShop(ctx, p, cb, at);
    if (!shop) return attempted;
    // Over Genstore's limit for this shop: leave it due (no write); other shops go first.
    const wait = ctx.queue.take(p.shopId);
    if (wait > 0) {
      ctx.queue.wait(p.shopId, ctx.lockKey(p.shopId, p._id), p._id, wait);
      return attempted;
    }
    attempted++;
    const done = await attempt(ctx, p, cb, shop);
    if (!done.delivered) return attempted;
    p = done.p;
  }
  return attempted;
}
