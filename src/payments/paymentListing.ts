import type { PaymentRecord, PaymentState } from "./records.js";

/** What operators filter payments by; every field set narrows the list. */
export interface PaymentFilter {
  shopId?: string | undefined;
  states?: readonly PaymentState[] | undefined;
  test?: boolean | undefined;
  createdAfter?: Date | undefined;
  createdBefore?: Date | undefined;
  paymentId?: string | undefined;
}

/** A payment as a list shows it: no card number, no credential. */
export interface PaymentSummary {
  shopId: string;
  paymentId: string;
  state: PaymentState;
  method: PaymentRecord["method"];
  test: boolean;
  psp: string;
  amountMinor: number;
  currency: string;
  channelPaymentId: string;
  error: string;
  createdAt: Date;
  updatedAt: Date;
  callbacksPending: number;
  callbacksParked: number;
  cardBrand: string;
  cardLast4: string;
  /** From receipt to the PSP's first answer (the first "psp: …" event); undefined while none. */
  pspLatencyMs: number | undefined;
  /** Queue-to-acknowledgement times of the payment's delivered callbacks. */
  callbackLagsMs: number[];
  /** When its next callback attempt is due; null when none is. */
  nextCallbackAt: Date | null;
}

/** Where the next page starts: strictly older than this (createdAt, then shop and id). */
export interface PageCursor {
  createdAt: number;
  shopId: string;
  paymentId: string;
}

/** Listing and aggregating payments for operators (the console, OperationsService). */
export interface PaymentListing {
  /** Newest first; `next` is set when more match. */
  list(filter: PaymentFilter, size: number, after?: PageCursor): Promise<{ payments: PaymentSummary[]; next?: PageCursor }>;
  /** Payments created at or after `since` (for charts), oldest first: the newest `limit` of them. */
  since(shopId: string | undefined, since: Date, limit: number): Promise<PaymentSummary[]>;
}

/** What a summary says of a payment's callbacks. */
export function callbackFields(callbacks: PaymentRecord["callbacks"]): Pick<PaymentSummary, "callbacksPending" | "callbacksParked" | "callbackLagsMs"> {
  return {
    callbacksPending: callbacks.filter((c) => c.state === "pending").length,
    callbacksParked: callbacks.filter((c) => c.state === "parked").length,
    callbackLagsMs: callbacks.filter((c) => c.deliveredAt).map((c) => new Date(c.deliveredAt!).getTime() - new Date(c.createdAt).getTime()),
  };
}

export function summaryOf(p: PaymentRecord): PaymentSummary {
  const firstPsp = p.timeline.find((e) => e.event.startsWith("psp:"));
  return {
    shopId: p.shopId,
    paymentId: p._id,
    state: p.state,
    method: p.method,
    test: p.test,
    psp: p.psp,
    amountMinor: p.amount.minor,
    currency: p.amount.currency,
    channelPaymentId: p.channelPaymentId,
    error: p.error ?? "",
    createdAt: new Date(p.createdAt),
    updatedAt: new Date(p.updatedAt),
    cardBrand: p.card?.brand ?? "",
    cardLast4: p.card?.last4 ?? "",
    pspLatencyMs: firstPsp ? new Date(firstPsp.at).getTime() - new Date(p.createdAt).getTime() : undefined,
    ...callbackFields(p.callbacks),
    nextCallbackAt: p.nextCallbackAt ? new Date(p.nextCallbackAt) : null,
  };
}

/** What a page's order, its cursor and the filters read of a payment; the creation time in ms. */
export interface ListingKey {
  shopId: string;
  paymentId: string;
  state: PaymentState;
  test: boolean;
  createdMs: number;
}

export const listingKeyOf = (s: PaymentSummary): ListingKey => ({ ...s, createdMs: s.createdAt.getTime() });

/** Newest first, ties broken by shop and id: the order pages follow. */
export function newerFirst(a: ListingKey, b: ListingKey): number {
  return (
    b.createdMs - a.createdMs ||
    (a.shopId < b.shopId ? 1 : a.shopId > b.shopId ? -1 : 0) ||
    (a.paymentId < b.paymentId ? 1 : a.paymentId > b.paymentId ? -1 : 0)
  );
}

export function isAfterCursor(s: ListingKey, c: PageCursor | undefined): boolean {
  if (!c) return true;
  if (s.createdMs !== c.createdAt) return s.createdMs < c.createdAt;
  if (s.shopId !== c.shopId) return s.shopId < c.shopId;
  return s.paymentId < c.paymentId;
}

export function matches(s: ListingKey, f: PaymentFilter): boolean {
  if (f.shopId && s.shopId !== f.shopId) return false;
  if (f.paymentId && s.paymentId !== f.paymentId) return false;
  if (f.states?.length && !f.states.includes(s.state)) return false;
  if (f.test !== undefined && s.test !== f.test) return false;
  if (f.createdAfter && s.createdMs < f.createdAfter.getTime()) return false;
  if (f.createdBefore && s.createdMs >= f.createdBefore.getTime()) return false;
  return true;
}
