import { summaryOf, type PaymentSummary } from "../../src/payments/paymentListing";
import { createInterner, PaymentEntry } from "../../src/store/paymentEntry";
import { capturedPayment } from "../helpers/records";

// The payment index keeps each payment as a compact entry; a page must still show every field of
// the summary it was made from, and a later change must reach it.
const at = new Date("2026-04-01T10:00:00.123Z");

function fullSummary(): PaymentSummary {
  const s = summaryOf(capturedPayment("P1", at, { shopId: "shop-a", minor: 4_200, withCallback: true }));
  return {
    ...s,
    channelPaymentId: "ch_abc",
    error: "card declined",
    updatedAt: new Date(at.getTime() + 2_500),
    callbacksPending: 1,
    callbacksParked: 2,
    cardBrand: "visa",
    cardLast4: "0042",
    pspLatencyMs: 31,
    callbackLagsMs: [17, 250],
    nextCallbackAt: new Date(at.getTime() + 60_000),
  };
}

test("an entry gives back the summary it was made from, field for field", () => {
  const s = fullSummary();
  const e = new PaymentEntry(s, createInterner());
  expect(e.summary()).toEqual(s);
  expect(e.createdMs).toBe(at.getTime());
  // No callback due, none delivered, no PSP answer yet: still the same summary.
  const bare = { ...s, nextCallbackAt: null, callbackLagsMs: [], pspLatencyMs: undefined, error: "" };
  expect(new PaymentEntry(bare, createInterner()).summary()).toEqual(bare);
});

test("an update or a callback change reaches the entry; its identity and creation time stay", () => {
  const intern = createInterner();
  const e = new PaymentEntry(fullSummary(), intern);
  // Every field but the identity changes, the creation time too (which the entry keeps).
  const later: PaymentSummary = {
    ...fullSummary(),
    state: "refunded",
    method: "offsite",
    test: false,
    psp: "stripe",
    amountMinor: 1,
    currency: "EUR",
    channelPaymentId: "ch_new",
    error: "",
    createdAt: new Date(0),
    updatedAt: new Date(at.getTime() + 9_000),
    callbacksPending: 0,
    callbacksParked: 0,
    cardBrand: "mastercard",
    cardLast4: "4444",
    pspLatencyMs: 7,
    callbackLagsMs: [3],
    nextCallbackAt: null,
  };
  e.update(later, intern);
  expect(e.summary()).toEqual({ ...later, createdAt: at });
  e.setCallbacks({ callbacksPending: 0, callbacksParked: 0, callbackLagsMs: [5] }, null);
  expect(e.summary()).toMatchObject({ callbacksPending: 0, callbacksParked: 0, callbackLagsMs: [5], nextCallbackAt: null });
  // A page's copy is its own: changing it does not change the index.
  e.summary().callbackLagsMs.push(99);
  expect(e.summary().callbackLagsMs).toEqual([5]);
});

test("the interner keeps each short string once, and no more strings than its bound", () => {
  const intern = createInterner(2, 8);
  for (const v of ["shop", "shop", "other", "shop"]) intern(v);
  expect(intern.size).toBe(2);
  // Full, or longer than the bound: the value passes through unkept (equal, as any string is).
  expect(intern("third")).toBe("third");
  intern("a-value-longer-than-8");
  expect(intern.size).toBe(2);
  const other = createInterner(10, 8);
  other("a-value-longer-than-8");
  expect(other.size).toBe(0);
});
