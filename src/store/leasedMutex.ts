import type { KeyedMutex } from "../runtime/keyedMutex.js";
import type { Leases } from "./leases.js";

/**
 * The per-payment lock of an instance that shares its database with others: the in-process
 * queue first (one waiter per key per instance asks the database), then the payment's lease,
 * held for the task (decisions.md D11, README "Scaling out"). `leaseKey` names the lease.
 */
export function createLeasedMutex(inner: KeyedMutex, leases: Leases, leaseKey: (key: string) => string): KeyedMutex {
  return {
    run: (key, task) => inner.run(key, () => leases.hold(leaseKey(key), task)),
    size: () => inner.size(),
  };
}
