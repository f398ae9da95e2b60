import type { CallbackRecord, PaymentRecord } from "../payments/records.js";

/**
 * One journaled delivery: the attempt that delivered a callback pending in the payment's document.
 * Only the attempt is kept (not the whole callback): thousands wait in memory between folds.
 */
export interface Delivery {
  callbackId: string;
  /** When it was acknowledged (ms since the epoch). */
  at: number;
  durationMs: number;
  httpStatus?: number;
}

/** The callback as the delivery left it: its pending record, with the attempt that delivered it. */
export function delivered(c: CallbackRecord, d: Delivery): CallbackRecord {
  const at = new Date(d.at);
  const attempt = { at, durationMs: d.durationMs, ...(d.httpStatus ? { httpStatus: d.httpStatus } : {}) };
  return { ...c, state: "delivered", deliveredAt: at, nextAttemptAt: null, attempts: [...c.attempts, attempt] };
}

/** A payment whose delivered callbacks are in the journal and not yet in its document. */
export interface Unfolded {
  shopId: string;
  paymentId: string;
  delivered: Delivery[];
  journals: string[];
  /** Nothing of it was left pending when last journaled (for the callback gauge). */
  clear: boolean;
}

export interface UnfoldedDeliveries {
  /** Oldest first (a Map keeps insertion order). */
  readonly payments: Map<string, Unfolded>;
  /** Journal documents none of whose facts is left unfolded: they can be deleted. */
  readonly emptied: Set<string>;
  readonly journalDocuments: number;
  note(shopId: string, paymentId: string, journalId: string, delivery: Delivery, clear: boolean): void;
  /** The payment's document now says all the journal said of it. */
  forget(shopId: string, paymentId: string): void;
  /**
   * A read of payments starts: until it ends, what `forget` drops is still applied, since the
   * database may answer it with the document as it was before the write that folded it.
   */
  beginRead(): () => void;
  /** A new callback of the payment is pending. */
  pending(shopId: string, paymentId: string): void;
  /** A stored payment with its journaled deliveries applied (the record itself if none). */
  apply(p: PaymentRecord): PaymentRecord;
  /** Payments the database counts as pending that have nothing pending. */
  clearCount(): number;
}

const deliveryOf = (u: Unfolded | undefined, callbackId: string) => u?.delivered.find((d) => d.callbackId === callbackId);
const keyOf = (shopId: string, paymentId: string) => `${shopId}\u0000${paymentId}`;

/** What the delivery journal says that the payment documents do not yet, in memory. */
export function createUnfoldedDeliveries(nextDue: (callbacks: CallbackRecord[]) => Date | null): UnfoldedDeliveries {
  const payments = new Map<string, Unfolded>();
  const retired = createRetired();
  /** Journal document → how many of its payments are not folded yet; at 0 it can go. */
  const remaining = new Map<string, number>();
  const emptied = new Set<string>();
  return {
    payments,
    emptied,
    get journalDocuments() {
      return remaining.size;
    },
    note(shopId, paymentId, journalId, delivery, clear) {
      const key = keyOf(shopId, paymentId);
      let u = payments.get(key);
      if (!u) payments.set(key, (u = { shopId, paymentId, delivered: [], journals: [], clear }));
      if (!u.delivered.some((d) => d.callbackId === delivery.callbackId)) u.delivered.push(delivery);
      u.clear = clear;
      if (!u.journals.includes(journalId)) {
        u.journals.push(journalId);
        remaining.set(journalId, (remaining.get(journalId) ?? 0) + 1);
      }
    },
    forget(shopId, paymentId) {
      const key = keyOf(shopId, paymentId);
      const u = payments.get(key);
      if (!u) return;
      payments.delete(key);
      retired.retire(key, u);
      for (const j of u.journals) {
        const left = (remaining.get(j) ?? 1) - 1;
        if (left > 0) remaining.set(j, left);
        else {
          remaining.delete(j);
          emptied.add(j);
        }
      }
    },
    beginRead: retired.beginRead,
    pending(shopId, paymentId) {
      const u = payments.get(keyOf(shopId, paymentId));
      if (u) u.clear = false;
    },
    apply(p) {
      const key = keyOf(p.shopId, p._id);
      const u = payments.get(key);
      const old = retired.get(key);
      if (!u && !old) return p;
      let changed = false;
      const callbacks = p.callbacks.map((c) => {
        // A delivery, once true, stays true: what a folded entry said still holds.
        const d = c.state === "delivered" ? undefined : (deliveryOf(u, c.id) ?? deliveryOf(old, c.id));
        if (!d) return c;
        changed = true;
        return delivered(c, d);
      });
      return changed ? { ...p, callbacks, nextCallbackAt: nextDue(callbacks) } : p;
    },
    clearCount() {
      let n = 0;
      for (const u of payments.values()) if (u.clear) n++;
      return n;
    },
  };
}

/** Entries forgotten while reads were under way, kept until every read begun before has ended. */
function createRetired() {
  const retired = new Map<string, { u: Unfolded; lastRead: number }>();
  const reading = new Set<number>();
  let reads = 0;
  return {
    retire(key: string, u: Unfolded): void {
      if (!reading.size) return;
      // Folded again while a read that began before the first fold is still under way: keep both.
      const before = retired.get(key)?.u;
      retired.set(key, { u: before ? { ...u, delivered: [...before.delivered, ...u.delivered], journals: [] } : u, lastRead: reads });
    },
    get: (key: string) => retired.get(key)?.u,
    beginRead(): () => void {
      const n = ++reads;
      reading.add(n);
      return () => {
        reading.delete(n);
        if (!retired.size) return;
        let oldest = Infinity;
        for (const r of reading) oldest = Math.min(oldest, r);
        for (const [key, r] of retired) if (r.lastRead < oldest) retired.delete(key);
      };
    },
  };
}
