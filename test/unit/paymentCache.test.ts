import { BSON, ObjectId } from "mongodb";
import { createPaymentCache } from "../../src/store/paymentCache";

// The cache keeps objects; what it gives back must be what a BSON round trip (the database) gives.
const stored = () => ({
  _id: "gspay_1",
  // A lone surrogate, as a JSON body may send in an id: BSON stores it as U+FFFD.
  genstoreId: "P-\ud800",
  state: "captured",
  note: undefined,
  timeline: ['{"event":"payment received"}', '{"event":"psp: approved"}'],
  callbacks: [],
  nextCallbackAt: new Date("2026-12-04T10:00:00.000Z"),
  test: true,
  version: 3,
  refund: { minor: 400, ids: ["R1", undefined] },
});

test("an entry reads back as the database would give the document back, undefined as null", () => {
  const cache = createPaymentCache(10);
  cache.set("k", stored());
  expect(cache.get("k")).toStrictEqual(BSON.deserialize(BSON.serialize(stored(), { ignoreUndefined: false })));
});

test("every read is a copy of its own: changing one changes neither the entry nor the next read", () => {
  const cache = createPaymentCache(10);
  const doc = stored();
  cache.set("k", doc);
  // Nor does changing what was written.
  doc.timeline.push("written later");
  doc.nextCallbackAt.setTime(0);
  const first = cache.get("k")!;
  (first.timeline as string[]).push("read later");
  (first.nextCallbackAt as Date).setTime(0);
  (first.refund as { ids: unknown[] }).ids.length = 0;
  first.state = "changed";
  const second = cache.get("k")!;
  expect(second.timeline).toEqual(stored().timeline);
  expect(second.nextCallbackAt).toEqual(stored().nextCallbackAt);
  expect(second.refund).toEqual({ minor: 400, ids: ["R1", null] });
  expect(second.state).toBe("captured");
});

test("a document over the size bound, or holding anything but plain data, is not kept", () => {
  const cache = createPaymentCache(10, 1024);
  cache.set("small", { _id: "a", fields: "x".repeat(900) });
  cache.set("big", { _id: "b", fields: "x".repeat(1100) });
  expect(cache.get("small")?._id).toBe("a");
  expect(cache.get("big")).toBeUndefined();
  // BSON would give these back as something else (Binary, an ObjectId's own class): read them from the database.
  cache.set("bytes", { _id: "c", data: Buffer.from("abc") });
  cache.set("id", { _id: new ObjectId() });
  // A key a request could name (JSON.parse makes it an own key): an assignment would set the copy's prototype.
  cache.set("proto", { _id: "d", metadata: JSON.parse('{"__proto__": {"state": "forged"}}') as object });
  expect(cache.get("bytes")).toBeUndefined();
  expect(cache.get("id")).toBeUndefined();
  expect(cache.get("proto")).toBeUndefined();
  // A later write of a key that is not kept drops what was kept before it.
  cache.set("small", { _id: "a", fields: "x".repeat(2000) });
  expect(cache.get("small")).toBeUndefined();
});
