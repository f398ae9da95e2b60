import { collectionOf, documentsWritten } from "../../src/observability/databaseCommands";

test("documents named by a write command: one per inserted document, update or delete statement", () => {
  expect(documentsWritten({ insert: "payments", documents: [{ _id: 1 }, { _id: 2 }] })).toBe(2);
  // One `update` command carrying a statement per payment (the batched outbox write).
  expect(documentsWritten({ update: "payments", updates: [{ q: { _id: 1 } }, { q: { _id: 2 } }, { q: { _id: 3 } }] })).toBe(3);
  expect(documentsWritten({ delete: "leases", deletes: [{ q: { _id: "a" }, limit: 1 }] })).toBe(1);
  expect(documentsWritten({ findAndModify: "payments", query: { _id: 1 }, update: { $set: { a: 1 } } })).toBe(1);
  expect(documentsWritten({ find: "payments", filter: { _id: 1 } })).toBe(0);
  expect(documentsWritten({ ping: 1 })).toBe(0);
});

test("a command's collection is named by the command, or by getMore's collection field", () => {
  expect(collectionOf({ insert: "callback_deliveries", documents: [] }, "insert")).toBe("callback_deliveries");
  expect(collectionOf({ getMore: 42n, collection: "payments" }, "getMore")).toBe("payments");
  expect(collectionOf({ aggregate: 1, pipeline: [] }, "aggregate")).toBe("");
  expect(collectionOf({ ping: 1 }, "ping")).toBe("");
});
