import { BSON, type Collection, type Db, type Document, type OptionalUnlessRequiredId } from "mongodb";
import { DUPLICATE_KEY, isDatabaseUnavailable, isDuplicateKey } from "../runtime/databaseErrors.js";

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

interface Waiting {
  doc: Document;
  settle: (outcome: InsertOutcome) => void;
  fail: (err: unknown) => void;
}

/** The reply of an unordered insert command: how many were stored, and each refused by its place. */
interface InsertReply {
  n?: number;
  writeErrors?: { index: number; code?: number; errmsg?: string }[];
  writeConcernError?: { code?: number; errmsg?: string };
}

/** A batch's documents in all, well under the 16 MiB of a MongoDB command and FerretDB's 48 MB. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Settles each caller of `batch` from the command's reply; throws when the reply does not add up. */
function settleFrom(reply: InsertReply, batch: Waiting[], collection: string): void {
  if (reply.writeConcernError)
    throw new DocumentRefused(`${collection}: ${reply.writeConcernError.errmsg ?? "the write concern failed"}`, reply.writeConcernError.code);
  const refused = new Map((reply.writeErrors ?? []).map((e) => [e.index, e]));
  // Every document stored or refused, none left untried (as an ordered insert would leave them).
  if (reply.n !== batch.length - refused.size)
    throw new Error(`${collection}: the insert stored ${reply.n} of ${batch.length} documents and refused ${refused.size}`);
  batch.forEach((w, i) => {
    const e = refused.get(i);
    if (!e) w.settle("inserted");
    else if (e.code === DUPLICATE_KEY) w.settle("duplicate");
    else w.fail(new DocumentRefused(e.errmsg ?? "the database refused the document", e.code));
  });
}

/**
 * The first waiting documents, up to `maxBatch` of them and MAX_BATCH_BYTES (at least one). Sizes
 * are measured here, only for a batch of more than one: a lone insert, the usual one when the
 * service is not busy, needs none.
 */
function nextBatch(queue: Waiting[], maxBatch: number): Waiting[] {
  if (queue.length <= 1 || maxBatch <= 1) return queue.slice(0, 1);
  let n = 0;
  for (let bytes = 0; n < queue.length && n < maxBatch; n++) {
    bytes += BSON.calculateObjectSize(queue[n]!.doc);
    if (n > 0 && bytes > MAX_BATCH_BYTES) break;
  }
  return queue.slice(0, n);
}

/**
 * Inserts into one collection that arrive while an insert is on its way go together, as one
 * unordered insert command, sent when it comes back (decisions.md D11). The embedded FerretDB
 * commits a many-document insert in one SQLite transaction, with one sync, where it commits each
 * insert command apart; one that meets a taken `_id` is done again one document at a time, each
 * told apart, so a duplicate costs a little more and means the same. A lone insert goes at once:
 * an idle service waits for nothing; a waiting one, for the command ahead of it and its own.
 *
 * The command is sent as it is (not insertMany, whose bulk error hides a lost connection behind
 * its own name). Each document's refusal reaches its own caller only. A failure of the command
 * reaches every caller of the batch, each of whose documents may or may not be stored, as with an
 * insert of its own; when it says the database is unreachable or past its bound, it also reaches
 * every caller still waiting, who would meet the same database a bound later.
 */
export function createInsertBatcher<T extends Document>(db: Db, collection: string, maxBatch = 100): InsertOne<T> {
  let queue: Waiting[] = [];
  let sending = false;

  const send = async (batch: Waiting[]) => {
    try {
      const reply = (await db.command({ insert: collection, documents: batch.map((w) => w.doc), ordered: false })) as InsertReply;
      settleFrom(reply, batch, collection);
    } catch (err) {
      // Settling twice is harmless: a promise keeps its first outcome.
      for (const w of batch) w.fail(err);
      if (isDatabaseUnavailable(err)) {
        const waiting = queue;
        queue = [];
        for (const w of waiting) w.fail(err);
      }
    }
  };

  const drain = async () => {
    sending = true;
    try {
      while (queue.length > 0) {
        const batch = nextBatch(queue, maxBatch);
        queue = queue.slice(batch.length);
        await send(batch);
      }
    } finally {
      sending = false;
    }
  };

  return (doc) =>
    new Promise<InsertOutcome>((settle, fail) => {
      queue.push({ doc, settle, fail });
      if (!sending) void drain();
    });
}
