import type {
  CallbackRecord,
  ClaimResult,
  OperationKind,
  OperationRecord,
  PaymentChange,
  PaymentGuard,
  PaymentRecord,
  PaymentRepository,
} from "../../src/payments/records";
import type { ShopConfig, ShopDirectory } from "../../src/payments/shops";

// In-memory stand-ins for the repositories, typed to the domain's own interfaces, so that the
// money rules and the state machine have fast unit tests. Integration tests use the real store.

const copy = <T>(v: T): T => structuredClone(v);

function meets(p: PaymentRecord, g: PaymentGuard): boolean {
  if (g.states && !g.states.includes(p.state)) return false;
  if (g.idle && p.activeOperation) return false;
  if (g.activeOperationId !== undefined && p.activeOperation?.id !== g.activeOperationId) return false;
  if (g.refundableAtLeast !== undefined && p.refundableMinor < g.refundableAtLeast) return false;
  if (g.refundInFlightId !== undefined && !p.refundsInFlight.some((r) => r.id === g.refundInFlightId)) return false;
  return true;
}

function apply(p: PaymentRecord, c: PaymentChange): void {
  Object.assign(p, c.set ?? {}, { updatedAt: c.event.at, version: (p.version ?? 0) + 1 });
  for (const [k, v] of Object.entries(c.inc ?? {})) (p as unknown as Record<string, number>)[k] = ((p as unknown as Record<string, number>)[k] ?? 0) + (v ?? 0);
  p.timeline.push(c.event);
  if (c.callback) {
    p.callbacks.push(c.callback);
    p.nextCallbackAt = c.event.at;
  }
  if (c.addRefundInFlight) p.refundsInFlight.push(c.addRefundInFlight);
  if (c.removeRefundInFlight)
    p.refundsInFlight = p.refundsInFlight.filter((r) => !(r.id === c.removeRefundInFlight!.id && r.minor === c.removeRefundInFlight!.minor));
}

export function createMemoryPaymentRepository(): PaymentRepository & { payments: Map<string, PaymentRecord>; operations: Map<string, OperationRecord> } {
  const payments = new Map<string, PaymentRecord>();
  const operations = new Map<string, OperationRecord>();
  const pk = (shopId: string, id: string) => `${shopId}/${id}`;
  const ok = (kind: OperationKind, shopId: string, id: string) => `${kind}/${shopId}/${id}`;
  const claim = <T>(map: Map<string, T>, key: string, record: T): ClaimResult<T> => {
    const existing = map.get(key);
    if (existing) return { inserted: false, record: copy(existing) };
    map.set(key, copy(record));
    return { inserted: true, record };
  };
  const list = (filter: (p: PaymentRecord) => boolean, limit: number) => [...payments.values()].filter(filter).slice(0, limit).map(copy);
  return {
    payments,
    operations,
    claimPayment: async (r) => claim(payments, pk(r.shopId, r._id), r),
    findPayment: async (shopId, id) => copy(payments.get(pk(shopId, id)) ?? null),
    async updatePayment(shopId, id, guard, change) {
      const p = payments.get(pk(shopId, id));
      if (!p || !meets(p, guard)) return null;
      apply(p, change);
      return copy(p);
    },
    claimOperation: async (r) => claim(operations, ok(r.kind, r.shopId, r._id), r),
    findOperation: async (kind, shopId, id) => copy(operations.get(ok(kind, shopId, id)) ?? null),
    async finishOperation(kind, shopId, id, set) {
      const op = operations.get(ok(kind, shopId, id));
      if (!op || op.state !== "processing") return null;
      Object.assign(op, set, { updatedAt: new Date() });
      return copy(op);
    },
    async deleteOperation(kind, shopId, id) {
      const key = ok(kind, shopId, id);
      if (operations.get(key)?.state === "processing") operations.delete(key);
    },
    findPaymentByIdempotencyKey: async (key) => copy([...payments.values()].find((p) => p.idempotencyKey === key) ?? null),
    findOperationByIdempotencyKey: async (key) => copy([...operations.values()].find((o) => o.idempotencyKey === key) ?? null),
    findDueCallbacks: async (now, limit, skip = []) => list((p) => p.nextCallbackAt !== null && p.nextCallbackAt <= now && !skip.includes(p.shopId), limit),
    async saveCallbacks(shopId, id, callbacks: CallbackRecord[], next, changed) {
      const p = payments.get(pk(shopId, id));
      if (p) Object.assign(p, { callbacks: copy(callbacks), nextCallbackAt: next }, changed ? { version: changed.from + 1 } : {});
    },
    async saveOutboxes(writes) {
      return writes.map((w) => {
        const p = payments.get(pk(w.shopId, w.paymentId));
        if (!p || (p.version ?? 0) !== (w.version ?? 0)) return false;
        Object.assign(p, { callbacks: copy(w.callbacks), nextCallbackAt: w.nextCallbackAt });
        return true;
      });
    },
    findParkedCallbacks: async (shopId, limit) => list((p) => p.callbacks.some((c) => c.state === "parked") && (!shopId || p.shopId === shopId), limit),
    findStalePayments: async (states, before, limit) => list((p) => states.includes(p.state) && p.updatedAt < before, limit),
    findStaleOperations: async (kind, before, limit) =>
      [...operations.values()]
        .filter((o) => o.kind === kind && o.state === "processing" && o.updatedAt < before)
        .slice(0, limit)
        .map(copy),
    countCallbacks: async () => ({
      pending: [...payments.values()].filter((p) => p.nextCallbackAt !== null).length,
      parked: list((p) => p.callbacks.some((c) => c.state === "parked"), Infinity).length,
    }),
  };
}

export function createMemoryShops(shops: ShopConfig[]): ShopDirectory {
  const byId = new Map(shops.map((s) => [s.shopId, s]));
  return {
    find: async (id) => byId.get(id),
    async get(id) {
      const s = byId.get(id);
      if (!s) throw new Error(`no shop ${id}`);
      return s;
    },
    forget: () => {},
  };
}
