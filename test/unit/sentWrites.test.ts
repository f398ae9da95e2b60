import { applyUpdate, createSentWrites } from "../../src/store/sentWrites";

const at = new Date("2026-12-04T10:00:00Z");
const doc = { _id: "k", state: "received", version: 1, timeline: ["e1"], fields: '{"amount":1}' };

test("an update as FerretDB applies it: $set (undefined as null), $push of one value, $inc from 0 when missing", () => {
  const after = applyUpdate(doc, {
    $set: { state: "approved", updatedAt: at, note: undefined, fields: '{"amount":2}' },
    $push: { timeline: "e2", callbacks: "c1" },
    $inc: { version: 1, attempts: 2 },
  });
  expect(after).toEqual({
    _id: "k",
    state: "approved",
    updatedAt: at,
    note: null,
    fields: '{"amount":2}',
    timeline: ["e1", "e2"],
    callbacks: ["c1"],
    version: 2,
    attempts: 2,
  });
  // The document it started from is left as it was.
  expect(doc).toEqual({ _id: "k", state: "received", version: 1, timeline: ["e1"], fields: '{"amount":1}' });
});

test("any other operator or form is not guessed at", () => {
  expect(applyUpdate(doc, { $pull: { timeline: "e1" } })).toBeUndefined();
  expect(applyUpdate(doc, { $push: { timeline: { $each: ["e2", "e3"] } } })).toBeUndefined();
  expect(applyUpdate(doc, { $set: { "card.last4": "4242" } })).toBeUndefined();
  expect(applyUpdate(doc, { $unset: { state: "" } })).toBeUndefined();
  expect(applyUpdate(doc, { $set: { state: "approved" }, $currentDate: { updatedAt: true } })).toBeUndefined();
});

test("what was sent is handed out once, to the write it came from", () => {
  const sent = createSentWrites();
  const record = {};
  const change = {};
  sent.claimed(record, { _id: "a" });
  sent.updated(change, { $set: { state: "approved" } });
  expect(sent.takeClaim({})).toBeUndefined();
  expect(sent.takeUpdate(record)).toBeUndefined();
  expect(sent.takeClaim(record)).toEqual({ _id: "a" });
  expect(sent.takeClaim(record)).toBeUndefined();
  expect(sent.takeUpdate(change)).toEqual({ $set: { state: "approved" } });
  expect(sent.takeUpdate(change)).toBeUndefined();
});
