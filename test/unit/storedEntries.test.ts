import type { PaymentRecord } from "../../src/payments/records";
import { decodeCallback, decodeEntries, encodeCallback, encodeEntries, PACKED_FIELDS, storedOutbox } from "../../src/store/storedEntries";
import { capturedPayment } from "../helpers/records";

// The timeline and the outbox are stored as one text per entry (FerretDB's cost is per value):
// what is read back must be the records that were written, dates included, and documents
// written before in the nested form must still read.
const at = new Date("2026-05-06T07:08:09.010Z");

function paymentWithEntries(): PaymentRecord {
  const p = capturedPayment("P1", at, { shopId: "s", minor: 1000, idempotencyKey: "k", withCallback: true });
  p.timeline.push({ at: new Date(at.getTime() + 5), event: "refund requested", requestId: "r1", operation: { kind: "refund", id: "R1" } });
  const parked = { ...p.callbacks[0]!, id: "refund:R1", kind: "refund" as const, targetId: "R1", state: "parked" as const, parkedReason: "404" };
  parked.attempts = [{ at: new Date(at.getTime() + 9), httpStatus: 404, durationMs: 12 }];
  parked.nextAttemptAt = null;
  parked.retryFrom = new Date(at.getTime() + 20);
  p.callbacks.push(parked);
  p.callbacks[0] = { ...p.callbacks[0]!, state: "delivered", deliveredAt: new Date(at.getTime() + 7), nextAttemptAt: null };
  return p;
}

test("entries read back as written: the same records, dates as dates", () => {
  const p = paymentWithEntries();
  const stored = encodeEntries(p);
  expect(stored.timeline.every((e) => typeof e === "string")).toBe(true);
  expect(stored.callbacks.every((c) => typeof c === "string")).toBe(true);
  expect(stored.parkedCallbacks).toBe(1);
  const read = decodeEntries(JSON.parse(JSON.stringify(stored)) as typeof stored);
  expect(read.timeline).toEqual(p.timeline);
  expect(read.callbacks).toEqual(p.callbacks);
  expect(read.callbacks[1]!.retryFrom).toBeInstanceOf(Date);
  expect(read).not.toHaveProperty("parkedCallbacks");
});

test("the texts are compact: an event is an array, dates are milliseconds, a callback's id is derived", () => {
  const p = paymentWithEntries();
  p.timeline.push({ at, event: "noted" }, { at, event: "", requestId: "", detail: "" });
  const stored = encodeEntries(p);
  expect(JSON.parse(stored.timeline[0] as string)).toEqual([at.getTime() + 5, "refund requested", "r1", null, "refund", "R1"]);
  expect(JSON.parse(stored.timeline[1] as string)).toEqual([at.getTime(), "noted"]);
  expect(JSON.parse(stored.timeline[2] as string)).toEqual([at.getTime(), "", "", null, null, null, ""]);
  const parked = JSON.parse(stored.callbacks[1] as string) as Record<string, unknown>;
  expect(parked).not.toHaveProperty("id");
  expect(parked).not.toHaveProperty("nextAttemptAt");
  expect(parked).toMatchObject({ retryFrom: at.getTime() + 20, attempts: [{ at: at.getTime() + 9, httpStatus: 404 }] });
  expect(decodeEntries(JSON.parse(JSON.stringify(stored)) as typeof stored).timeline).toEqual(p.timeline);
  // An id that is not the derived one is kept.
  const odd = { ...p.callbacks[0]!, id: "payment:other" };
  expect(decodeCallback(encodeCallback(odd))).toEqual(odd);
});

test("texts written in the longer form (objects, ISO dates, the callback's id) read as they are", () => {
  const p = paymentWithEntries();
  const older = { ...p, timeline: p.timeline.map((e) => JSON.stringify(e)), callbacks: p.callbacks.map((c) => JSON.stringify(c)) };
  expect(decodeEntries(older)).toEqual(p);
});

const packedText = (stored: object) => JSON.parse((stored as { fields: string }).fields) as Record<string, unknown>;

test("packed fields leave out their defaults and the idempotency key that is the storage key, and read back whole", () => {
  const p = { ...paymentWithEntries(), channelPaymentId: "", authorizedMinor: 0, capturedMinor: 0, refundableMinor: 0, idempotencyKey: "gspay_key" };
  const stored = encodeEntries(p, { key: "gspay_key" });
  expect(packedText(stored)).toEqual({ amount: p.amount, requestHash: "h", psp: "sandbox" });
  // The storage key is the document's _id, read with it.
  expect(decodeEntries({ ...stored, _id: "gspay_key" })).toEqual({ ...p, _id: "gspay_key" });
  // Under another key the idempotency key is kept; values other than the defaults are kept.
  const held = {
    ...p,
    method: "offsite" as const,
    manualCapture: true,
    captureAtOnce: false,
    refundsInFlight: [{ id: "r0", minor: 5 }],
    refundReservedMinor: 5,
    activeOperation: { kind: "refund" as const, id: "R0" },
  };
  const other = encodeEntries(held, { key: "other" });
  expect(packedText(other)).toMatchObject({ method: "offsite", manualCapture: true, captureAtOnce: false });
  expect(packedText(other)).toMatchObject({
    idempotencyKey: "gspay_key",
    refundsInFlight: [{ id: "r0", minor: 5 }],
    refundReservedMinor: 5,
    activeOperation: { id: "R0" },
  });
  expect(decodeEntries({ ...other, _id: "other" })).toEqual({ ...held, _id: "other" });
});

test("a packed text holding every field (as an earlier version wrote it) reads as it is", () => {
  const p = { ...paymentWithEntries(), idempotencyKey: "k-old" };
  const old = Object.fromEntries(PACKED_FIELDS.filter((k) => p[k] !== undefined).map((k) => [k, p[k]]));
  const top = Object.fromEntries(Object.entries(encodeEntries(p)).filter(([k]) => !(PACKED_FIELDS as readonly string[]).includes(k)));
  expect(decodeEntries({ ...top, fields: JSON.stringify(old), _id: "gspay_other" })).toEqual({ ...p, _id: "gspay_other" });
});

test("a document written in the nested form reads as it is", () => {
  const p = paymentWithEntries();
  expect(decodeEntries({ ...p })).toEqual(p);
});

test("the parked count follows the outbox", () => {
  const p = paymentWithEntries();
  expect(storedOutbox(p.callbacks).parkedCallbacks).toBe(1);
  expect(storedOutbox(p.callbacks.map((c) => ({ ...c, state: "delivered" as const }))).parkedCallbacks).toBe(0);
});
