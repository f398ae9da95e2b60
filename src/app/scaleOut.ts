import type { Db } from "mongodb";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Exclusive } from "../callbacks/dispatcher.js";
import type { Logger } from "../observability/logger.js";
import { createKeyedMutex, type KeyedMutex } from "../runtime/keyedMutex.js";
import { createPeriodicTask, type PeriodicTask } from "../runtime/periodicTask.js";
import { createLeasedMutex } from "../store/leasedMutex.js";
import { createLeases } from "../store/leases.js";

/** Several instances on one database (SHARED_DATABASE=true): README "Scaling out". */
export interface ScaleOutSettings {
  /** How long a lease lives without renewal: a dead instance's work is picked up after this. */
  leaseTtlMs: number;
}

export interface Coordination {
  /** The per-payment lock of the use cases, the dispatcher and the outbox writer. */
  mutex: KeyedMutex;
  /** The dispatcher's delivery lease, when shared. */
  delivery?: Exclusive;
  /** The reconciler's lease per record, when shared. */
  reconcile?: (key: string, task: () => Promise<void>) => Promise<unknown>;
  /** Clears a dead instance's leftover leases now and then, when shared. */
  sweeper?: PeriodicTask;
}

/**
 * One instance on its database: the in-process lock, no database writes for it. Shared: the
 * in-process lock, then a lease per payment (see store/leases.ts), a delivery lease per payment's
 * outbox and a lease per record reconciled, with their metrics.
 */
export function coordination(db: Db, instanceId: string, shared: ScaleOutSettings | undefined, log: Logger, registry: Registry): Coordination {
  // Which instance a scrape came from, beside Prometheus's own target label (an info metric:
  // no label added to every series).
  new Gauge({
    name: "instance_info",
    help: "This instance: its INSTANCE_ID and whether it shares its database with others",
    labelNames: ["instance_id", "shared_database"],
    registers: [registry],
  }).set({ instance_id: instanceId, shared_database: String(Boolean(shared)) }, 1);
  if (!shared) return { mutex: createKeyedMutex() };
  const acquisitions = new Counter({
    name: "lease_acquisitions_total",
    help: "Lease acquisition attempts by result (acquired, busy, taken_over, lost)",
    labelNames: ["result"],
    registers: [registry],
  });
  const leases = createLeases(db, { instanceId, ttlMs: shared.leaseTtlMs, log, observe: (result) => acquisitions.inc({ result }) });
  new Gauge({
    name: "leases_held",
    help: "Leases this instance holds now",
    registers: [registry],
    collect() {
      this.set(leases.held());
    },
  });
  const sweeper = createPeriodicTask(
    () => leases.sweep(),
    10 * shared.leaseTtlMs,
    (err) => log({ level: "warn", msg: "sweeping old leases failed", error: String(err) }),
  );
  return {
    // paymentLockKey is `${shopId}\u0000${paymentId}`; shop ids have no "/".
    mutex: createLeasedMutex(createKeyedMutex(), leases, (key) => `payment/${key.replace("\u0000", "/")}`),
    delivery: (shopId, paymentId, task) => leases.tryHold(`deliver/${shopId}/${paymentId}`, task),
    reconcile: (key, task) => leases.tryHold(key, task),
    sweeper,
  };
}
