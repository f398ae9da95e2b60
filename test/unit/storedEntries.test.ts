import type { PaymentRecord } from "../../src/payments/records";
import { decodeEntries, encodeEntries, storedOutbox } from "../../src/store/storedEntries";
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

test("a document written in the nested form reads as it is", () => {
  const p = paymentWithEntries();
  expect(decodeEntries({ ...p })).toEqual(p);
});

test("the parked count follows the outbox", () => {
  const p = paymentWithEntries();
  expect(storedOutbox(p.callbacks).parkedCallbacks).toBe(1);
  expect(storedOutbox(p.callbacks.map((c) => ({ ...c, state: "delivered" as const }))).parkedCallbacks).toBe(0);
});
