import type { Collection, Db, Document, OptionalUnlessRequiredId } from "mongodb";
import { DUPLICATE_KEY, isDuplicateKey } from "../runtime/databaseErrors.js";
import { createCommandBatcher, DocumentRefused, refusalsOf, type EntryOutcome, type WriteReply } from "./commandBatcher.js";

/** What became of one document: stored, or refused because its `_id` is taken. */
export type InsertOutcome = "inserted" | "duplicate";

/** Inserts one document and says whether its `_id` was free. */
export type InsertOne<T extends Document> = (doc: OptionalUnlessRequiredId<T>) => Promise<InsertOutcome>;

/** One insert command per document. */
export function insertsOneByOne<T extends Document>(collection: Collection<T>): InsertOne<T> {
  return async (doc) => {
    try {
      await collection.insertOne(doc);
      return "inserted";
    } catch (err) {
      if (isDuplicateKey(err)) return "duplicate";
      throw err;
    }
  };
}

/** What became of each document of the batch; throws when the reply does not add up. */
function outcomesOf(reply: WriteReply, count: number, collection: string): EntryOutcome<InsertOutcome>[] {
  const refused = refusalsOf(reply, collection);
  // Every document stored or refused, none left untried (as an ordered insert would leave them).
  if (reply.n !== count - refused.size) throw new Error(`${collection}: the insert stored ${reply.n} of ${count} documents and refused ${refused.size}`);
  return Array.from({ length: count }, (_, i) => {
    const e = refused.get(i);
    if (!e) return { value: "inserted" };
    if (e.code === DUPLICATE_KEY) return { value: "duplicate" };
    return { error: new DocumentRefused(e.errmsg ?? "the database refused the document", e.code) };
  });
}

/**
 * Inserts into one collection that arrive while an insert is on its way go together, as one
 * unordered insert command (commandBatcher.ts, decisions.md D11). The embedded FerretDB commits a
 * many-document insert in one SQLite transaction, with one sync, where it commits each insert
 * command apart; one that meets a taken `_id` is done again one document at a time, each told
 * apart, so a duplicate costs a little more and means the same.
 *
 * The command is sent as it is (not insertMany, whose bulk error hides a lost connection behind
 * its own name). Each document's refusal reaches its own caller only.
 */
export function createInsertBatcher<T extends Document>(db: Db, collection: string, maxBatch = 100): InsertOne<T> {
  return createCommandBatcher<Document, InsertOutcome>(
    async (documents) => outcomesOf((await db.command({ insert: collection, documents, ordered: false })) as WriteReply, documents.length, collection),
    maxBatch,
  ) as InsertOne<T>;
}
