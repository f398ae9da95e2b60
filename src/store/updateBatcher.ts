import type { Db, Document } from "mongodb";
import { createCommandBatcher, DocumentRefused, refusalsOf, type EntryOutcome, type WriteReply } from "./commandBatcher.js";
import type { StatementBudget } from "./statementBudget.js";

/**
 * Applies `update` to the document with `_id` `id`; says whether one had it. `answered`: no one
 * waits for it (its answer went out), so it queues with the others of its kind.
 */
export type UpdateById = (id: string, update: Document, answered?: boolean) => Promise<boolean>;

/**
 * Statements per command. FerretDB holds a SQLite connection for each until the command ends
 * (statementBudget.ts); at c=16 a batch holds at most 16 anyway, and at c=64 this still saves
 * fifteen commands of sixteen.
 */
export const MAX_UPDATE_BATCH = 16;

interface Statement extends Document {
  q: { _id: string };
  u: Document;
}

/**
 * Updates by `_id` of one collection that arrive while one is on its way go together, as one
 * ordered update command (commandBatcher.ts, decisions.md D11). FerretDB still applies each
 * statement apart; what the batch saves is the command around them, which cost the service and
 * FerretDB more than the statement itself: a payment's final update, one command each at c=16,
 * was the service's largest cost after decryption.
 *
 * The reply counts the documents matched, not which: when it counts fewer than were tried, each
 * statement's `_id` is looked up, and, the filter being `_id` alone, a document that is there is
 * one its statement matched. For the embedded FerretDB only, where the service checks each
 * update's guard itself and runs a payment's writes one at a time; on MongoDB a guard lives in
 * each update's filter.
 *
 * Two lanes, each one command at a time: the updates whose answers went out already (the card
 * payments answered ahead of their writes, most of them under load), sent once the answers'
 * continuations have run (commandBatcher.ts), and the updates someone waits for. These would
 * otherwise wait behind a batch of up to 16 that no one waits for and then in their own: at c=16
 * that wait was the slowest tenth of card payments' answers. The lanes share the driver's
 * connections (two on FerretDB), and in FerretDB their statements take turns at SQLite's write
 * lock.
 */
export function createUpdateBatcher(db: Db, collection: string, budget: StatementBudget, maxBatch = MAX_UPDATE_BATCH): UpdateById {
  const send = async (updates: Statement[]): Promise<EntryOutcome<boolean>[]> => {
    const reply = (await budget.run(updates.length, () => db.command({ update: collection, updates, ordered: true }))) as WriteReply;
    const refused = [...refusalsOf(reply, collection).values()];
    if (refused.length > 0) {
      const why = refused[0]!.errmsg ?? "the database refused the update";
      if (updates.length === 1) return [{ error: new DocumentRefused(why, refused[0]!.code) }];
      // FerretDB stops at a refused statement, even unordered, and names neither its place (it says
      // 0 whichever it was) nor how many landed before it: those before it are applied, those after
      // not, and which is which is unknown. None is sent again (a second $inc or $push would double
      // it); each caller hears that its update may or may not have landed.
      const unknown = new Error(
        `${collection}: the database refused one of ${updates.length} updates sent together (${why}); each may or may not have been applied`,
      );
      return updates.map(() => ({ error: unknown }));
    }
    if (reply.n === updates.length) return updates.map(() => ({ value: true }));
    // One findOne each: FerretDB answers a filter on _id alone from its index, $in by a scan.
    const byId = (s: Statement) => db.collection(collection).findOne({ _id: s.q._id as never }, { projection: { _id: 1 } });
    return Promise.all(updates.map(async (s) => ({ value: (await byId(s)) !== null })));
  };
  const answeredLane = createCommandBatcher<Statement, boolean>(send, maxBatch, true);
  const waitedLane = createCommandBatcher<Statement, boolean>(send, maxBatch);
  return (id, update, answered = false) => (answered ? answeredLane : waitedLane)({ q: { _id: id }, u: update });
}

/** A batcher per collection of `db`, made at its first update, all within one budget. */
export function createUpdateBatchers(db: Db, budget: StatementBudget): (collection: string) => UpdateById {
  const batchers = new Map<string, UpdateById>();
  return (collection) => {
    let batcher = batchers.get(collection);
    if (!batcher) batchers.set(collection, (batcher = createUpdateBatcher(db, collection, budget)));
    return batcher;
  };
}
