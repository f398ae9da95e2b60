import { nextDue } from "../../src/callbacks/retryPolicy";
import { createUnfoldedDeliveries } from "../../src/store/unfoldedDeliveries";
import { capturedPayment } from "../helpers/records";

const at = new Date("2026-11-30T10:00:00Z");
const stored = capturedPayment("P1", at, { withCallback: true });
const delivery = (callbackId: string) => ({ callbackId, at: at.getTime(), durationMs: 12, httpStatus: 200 });
const id = stored.callbacks[0]!.id;

test("a read under way when its payment is folded still sees the delivery; later reads see the document", () => {
  const book = createUnfoldedDeliveries(nextDue);
  book.note("s1", "P1", "j1", delivery(id), true);
  expect(book.apply(stored).callbacks[0]).toEqual({
    ...stored.callbacks[0],
    state: "delivered",
    deliveredAt: at,
    nextAttemptAt: null,
    attempts: [{ at, durationMs: 12, httpStatus: 200 }],
  });

  // The database may answer a read sent before the fold's write with the document before it.
  const slow = book.beginRead();
  book.forget("s1", "P1");
  expect(book.apply(stored)).toMatchObject({ nextCallbackAt: null, callbacks: [{ state: "delivered" }] });
  const later = book.beginRead();
  slow();
  // Only reads begun before the fold needed it: gone once they end.
  expect(book.apply(stored)).toBe(stored);
  later();
  expect([...book.emptied]).toEqual(["j1"]);
});

test("a payment's journal document is emptied only when every payment in it is folded", () => {
  const book = createUnfoldedDeliveries(nextDue);
  book.note("s1", "P1", "j1", delivery(id), true);
  book.note("s1", "P2", "j1", delivery(id), false);
  book.note("s1", "P2", "j2", delivery("refund:R1"), true);
  expect(book.journalDocuments).toBe(2);
  expect(book.clearCount()).toBe(2);
  book.pending("s1", "P2");
  expect(book.clearCount()).toBe(1);
  book.forget("s1", "P1");
  expect([...book.emptied]).toEqual([]);
  book.forget("s1", "P2");
  expect([...book.emptied].sort()).toEqual(["j1", "j2"]);
});

test("a read under way across two folds of its payment still sees what the first one folded", () => {
  const book = createUnfoldedDeliveries(nextDue);
  const refund = { ...stored.callbacks[0]!, id: "refund:R1", kind: "refund" as const, targetId: "R1" };
  const both = { ...stored, callbacks: [stored.callbacks[0]!, refund] };
  const slow = book.beginRead();
  book.note("s1", "P1", "j1", delivery(id), false);
  book.forget("s1", "P1");
  book.note("s1", "P1", "j2", delivery("refund:R1"), true);
  book.forget("s1", "P1");
  expect(book.apply(both).callbacks.map((c) => c.state)).toEqual(["delivered", "delivered"]);
  slow();
  expect(book.apply(both)).toBe(both);
});
