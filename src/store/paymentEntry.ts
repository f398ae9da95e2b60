import type { ListingKey, PaymentSummary } from "../payments/paymentListing.js";
import type { PaymentRecord, PaymentState } from "../payments/records.js";

/**
 * Keeps one copy of each short string many payments share (shops, states, PSPs, currencies, card
 * brands and last fours): each record read from the database brings its own copies.
 * Bounded, so that a stream of distinct values cannot grow it without end; past the bound a value
 * is kept as it came.
 */
export function createInterner(maxEntries = 50_000, maxLength = 64): Interner {
  const table = new Map<string, string>();
  const intern = (s: string) => {
    if (s.length > maxLength) return s;
    const known = table.get(s);
    if (known !== undefined) return known;
    if (table.size < maxEntries) table.set(s, s);
    return s;
  };
  return Object.defineProperty(intern, "size", { get: () => table.size }) as Interner;
}

/** Gives the kept copy of a string; `size` is how many it keeps. */
export type Interner = ((s: string) => string) & { readonly size: number };

const NO_LAGS: readonly number[] = Object.freeze([]);
const msOf = (d: Date | null) => (d === null ? undefined : new Date(d).getTime());

/**
 * A payment summary as the in-memory index keeps it, for up to 200,000 payments: times as numbers
 * rather than Date objects, shared strings interned, no array for a payment with no delivered
 * callback. About half the memory of a `PaymentSummary` (README, Performance); `summary()`
 * gives the full one back for a page.
 */
export class PaymentEntry implements ListingKey {
  readonly shopId: string;
  readonly paymentId: string;
  readonly createdMs: number;
  state!: PaymentState;
  method!: PaymentRecord["method"];
  test!: boolean;
  psp!: string;
  amountMinor!: number;
  currency!: string;
  channelPaymentId!: string;
  error!: string;
  updatedMs!: number;
  cardBrand!: string;
  cardLast4!: string;
  pspLatencyMs!: number | undefined;
  callbacksPending!: number;
  callbacksParked!: number;
  callbackLagsMs!: readonly number[];
  nextCallbackMs!: number | undefined;

  constructor(s: PaymentSummary, intern: Interner) {
    this.shopId = intern(s.shopId);
    this.paymentId = s.paymentId;
    this.createdMs = s.createdAt.getTime();
    this.update(s, intern);
  }

  /** Takes everything but the identity and creation time from a newer summary of the payment. */
  update(s: PaymentSummary, intern: Interner): void {
    this.state = intern(s.state) as PaymentState;
    this.method = s.method;
    this.test = s.test;
    this.psp = intern(s.psp);
    this.amountMinor = s.amountMinor;
    this.currency = intern(s.currency);
    this.channelPaymentId = s.channelPaymentId;
    this.error = s.error; // not interned: PSPs' error texts are many and would fill the table
    this.updatedMs = s.updatedAt.getTime();
    this.cardBrand = intern(s.cardBrand);
    this.cardLast4 = intern(s.cardLast4);
    this.pspLatencyMs = s.pspLatencyMs;
    this.setCallbacks(s, s.nextCallbackAt);
  }

  setCallbacks(c: Pick<PaymentSummary, "callbacksPending" | "callbacksParked" | "callbackLagsMs">, next: Date | null): void {
    this.callbacksPending = c.callbacksPending;
    this.callbacksParked = c.callbacksParked;
    this.callbackLagsMs = c.callbackLagsMs.length ? [...c.callbackLagsMs] : NO_LAGS;
    this.nextCallbackMs = msOf(next);
  }

  summary(): PaymentSummary {
    return {
      shopId: this.shopId,
      paymentId: this.paymentId,
      state: this.state,
      method: this.method,
      test: this.test,
      psp: this.psp,
      amountMinor: this.amountMinor,
      currency: this.currency,
      channelPaymentId: this.channelPaymentId,
      error: this.error,
      createdAt: new Date(this.createdMs),
      updatedAt: new Date(this.updatedMs),
      callbacksPending: this.callbacksPending,
      callbacksParked: this.callbacksParked,
      cardBrand: this.cardBrand,
      cardLast4: this.cardLast4,
      pspLatencyMs: this.pspLatencyMs,
      callbackLagsMs: [...this.callbackLagsMs],
      nextCallbackAt: this.nextCallbackMs === undefined ? null : new Date(this.nextCallbackMs),
    };
  }
}
