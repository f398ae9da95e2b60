import type { PaymentUseCases } from "./use-cases/index.js";
import { createPeriodicTask } from "../runtime/periodicTask.js";
import type { OperationKind, PaymentRepository, PaymentState } from "./records.js";

export interface ReconcilerOptions {
  repository: PaymentRepository;
  useCases: Pick<PaymentUseCases, "refreshPayment" | "refreshOperation" | "expirePayment">;
  log: (e: Record<string, unknown>) => void;
  intervalMs?: number;
  /** Leave records younger than this alone: their request may still be working on them. */
  minAgeMs?: number;
  /** 3-D Secure and hosted-page payments fail after this long without the buyer. */
  actionExpiryMs?: number;
  now?: () => Date;
  /**
   * Several instances on one database: runs the work on one record holding its reconciliation
   * lease, so that one instance at a time asks the PSP about it; others skip it this pass.
   */
  exclusive?: (key: string, task: () => Promise<void>) => Promise<unknown>;
}

export interface Reconciler {
  start(): void;
  stop(): Promise<void>;
  /** One pass; returns how many records it looked at. */
  runOnce(): Promise<number>;
}

const openPaymentStates: readonly PaymentState[] = ["received", "pending", "unknown", "requires_action"];
const kinds: readonly OperationKind[] = ["capture", "void", "refund"];

/**
 * Resolves what a crash, a PSP timeout or a lost webhook left open, by asking the PSP with the
 * same idempotency keys, and expires payments the buyer abandoned (decisions.md D3).
 */
export function createReconciler(opts: ReconcilerOptions): Reconciler {
  const now = opts.now ?? (() => new Date());
  const intervalMs = opts.intervalMs ?? 30_000;
  const minAgeMs = opts.minAgeMs ?? 60_000;
  const expiryMs = opts.actionExpiryMs ?? 30 * 60_000;

  const once = (key: string, task: () => Promise<void>) => (opts.exclusive ? opts.exclusive(key, task) : task());

  async function runOnce(): Promise<number> {
    const at = now();
    const before = new Date(at.getTime() - minAgeMs);
    let seen = 0;
    for (const p of await opts.repository.findStalePayments(openPaymentStates, before, 200)) {
      seen++;
      const meta = { shopId: p.shopId, requestId: "reconciler" };
      await once(`reconcile/payment/${p.shopId}/${p._id}`, async () => {
        try {
          const waitingForBuyer = p.state === "requires_action" || (p.state === "pending" && p.actionUrl);
          const after =
            waitingForBuyer && at.getTime() - new Date(p.createdAt).getTime() > expiryMs
              ? await opts.useCases.expirePayment(meta, p._id)
              : await opts.useCases.refreshPayment(meta, p._id);
          if (after && after.state !== p.state)
            opts.log({ level: "info", msg: "reconciled a payment", shopId: p.shopId, paymentId: p._id, from: p.state, to: after.state });
        } catch (err) {
          opts.log({ level: "warn", msg: "reconciling a payment failed", shopId: p.shopId, paymentId: p._id, error: String(err) });
        }
      }).catch((err: unknown) => opts.log({ level: "warn", msg: "reconciling a payment failed", shopId: p.shopId, paymentId: p._id, error: String(err) }));
    }
    for (const kind of kinds) {
      for (const op of await opts.repository.findStaleOperations(kind, before, 200)) {
        seen++;
        await once(`reconcile/${kind}/${op.shopId}/${op._id}`, async () => {
          try {
            const after = await opts.useCases.refreshOperation({ shopId: op.shopId, requestId: "reconciler" }, kind, op._id);
            if (after && after.state !== op.state)
              opts.log({ level: "info", msg: `reconciled a ${kind}`, shopId: op.shopId, paymentId: op.paymentId, id: op._id, to: after.state });
          } catch (err) {
            opts.log({ level: "warn", msg: `reconciling a ${kind} failed`, shopId: op.shopId, id: op._id, error: String(err) });
          }
        }).catch((err: unknown) => opts.log({ level: "warn", msg: `reconciling a ${kind} failed`, shopId: op.shopId, id: op._id, error: String(err) }));
      }
    }
    return seen;
  }

  const task = createPeriodicTask(runOnce, intervalMs, (err) => opts.log({ level: "error", msg: "reconciliation pass failed", error: String(err) }));

  return {
    start: () => task.start(),
    stop: () => task.stop(),
    runOnce,
  };
}
