import { MongoServerError, type Collection, type Db, type Document, type OptionalUnlessRequiredId } from "mongodb";

/** What became of one document: stored, or refused because its `_id` is taken. */
export type InsertOutcome = "inserted" | "duplicate";

/** A document the database refused for a reason of its own (not a duplicate `_id`). */
export class DocumentRefused extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
    this.name = "DocumentRefused";
  }
}

const DUPLICATE_KEY = 11000;

/** Inserts one document and says whether its `_id` was free. */
export type InsertOne<T extends Document> = (doc: OptionalUnlessRequiredId<T>) => Promise<InsertOutcome>;

/** One insert command per document. */
export function insertsOneByOne<T extends Document>(collection: Collection<T>): InsertOne<T> {
  return async (doc) => {
    try {
      await collection.insertOne(doc);
      return "inserted";
    } catch (err) {
      if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return "duplicate";
      throw err;
    }
  };
}

interface Waiting {
  doc: Document;
  settle: (outcome: InsertOutcome) => void;
  fail: (err: unknown) => void;
}

/** The reply of an unordered insert command: each document refused, by its place in the batch. */
interface InsertReply {
  writeErrors?: { index: number; code?: number; errmsg?: string }[];
  writeConcernError?: unknown;
}

/**
 * Inserts into one collection that arrive while an insert is on its way go together, as one
 * unordered insert command, sent when it comes back (decisions.md D11). The embedded FerretDB
 * commits a many-document insert in one SQLite transaction, with one sync, where it commits each
 * insert command apart; one that meets a taken `_id` is done again one document at a time, each
 * told apart, so a duplicate costs a little more and means the same. A lone insert goes at once:
 * an idle service waits for nothing.
 *
 * The command is sent as it is (not insertMany, whose bulk error hides a lost connection behind
 * its own name): each document's refusal reaches its own caller only; a failure of the command
 * (the database gone, slow past its bound) reaches every caller of the batch, each of whose
 * documents may or may not be stored, as with an insert of its own, and every caller still
 * waiting, who would meet the same database a bound later.
 */
export function createInsertBatcher<T extends Document>(db: Db, collection: string, maxBatch = 100): InsertOne<T> {
  let queue: Waiting[] = [];
  let sending = false;

  const send = async (batch: Waiting[]) => {
    let reply: InsertReply;
    try {
      reply = (await db.command({ insert: collection, documents: batch.map((w) => w.doc), ordered: false })) as InsertReply;
      if (reply.writeConcernError) throw new DocumentRefused(`${collection}: the write concern failed`, undefined);
    } catch (err) {
      const waiting = queue;
      queue = [];
      for (const w of [...batch, ...waiting]) w.fail(err);
      return;
    }
    const refused = new Map((reply.writeErrors ?? []).map((e) => [e.index, e]));
    batch.forEach((w, i) => {
      const e = refused.get(i);
      if (!e) w.settle("inserted");
      else if (e.code === DUPLICATE_KEY) w.settle("duplicate");
      else w.fail(new DocumentRefused(e.errmsg ?? "the database refused the document", e.code));
    });
  };

  const drain = async () => {
    sending = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      await send(batch);
    }
    sending = false;
  };

  return (doc) =>
    new Promise<InsertOutcome>((settle, fail) => {
      queue.push({ doc, settle, fail });
      if (!sending) void drain();
    });
}
