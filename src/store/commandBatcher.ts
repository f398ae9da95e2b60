import { BSON, type Document } from "mongodb";
import { isDatabaseUnavailable } from "../runtime/databaseErrors.js";

/** One caller's entry of a batch and what became of it: a value, or an error for that caller only. */
export type EntryOutcome<O> = { value: O } | { error: Error };

/**
 * Sends one command for `entries` and says what became of each, in their order. A throw (the
 * command failed whole) reaches every caller of the batch.
 */
export type SendBatch<E extends Document, O> = (entries: E[]) => Promise<EntryOutcome<O>[]>;

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

/** The reply of an insert or update command: how many were stored or matched, and the refusals with the place the database gave them. */
export interface WriteReply {
  n?: number;
  writeErrors?: { index: number; code?: number; errmsg?: string }[];
  writeConcernError?: { code?: number; errmsg?: string };
}

/** The refusals of a reply by place; throws when the command's write concern failed (every entry's fate unknown). */
export function refusalsOf(reply: WriteReply, collection: string): Map<number, { code?: number; errmsg?: string }> {
  if (reply.writeConcernError)
    throw new DocumentRefused(`${collection}: ${reply.writeConcernError.errmsg ?? "the write concern failed"}`, reply.writeConcernError.code);
  return new Map((reply.writeErrors ?? []).map((e) => [e.index, e]));
}

interface Waiting<E, O> {
  entry: E;
  settle: (outcome: O) => void;
  fail: (err: unknown) => void;
}

/** A batch's entries in all, well under the 16 MiB of a MongoDB command and FerretDB's 48 MB. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * The first waiting entries, up to `maxBatch` of them and MAX_BATCH_BYTES (at least one). Sizes
 * are measured here, only for a batch of more than one: a lone command, the usual one when the
 * service is not busy, needs none.
 */
function nextBatch<E extends Document, O>(queue: Waiting<E, O>[], maxBatch: number): Waiting<E, O>[] {
  if (queue.length <= 1 || maxBatch <= 1) return queue.slice(0, 1);
  let n = 0;
  for (let bytes = 0; n < queue.length && n < maxBatch; n++) {
    bytes += BSON.calculateObjectSize(queue[n]!.entry);
    if (n > 0 && bytes > MAX_BATCH_BYTES) break;
  }
  return queue.slice(0, n);
}

/**
 * Entries that arrive while a command is on its way go together, as one command sent when it
 * comes back (decisions.md D11): the embedded FerretDB and the driver each pay per command far
 * more than per entry. A lone entry goes at once: an idle service waits for nothing; a waiting
 * one, for the command ahead of it and its own.
 *
 * Each entry's own refusal reaches its own caller only. A failure of the command reaches every
 * caller of the batch, each of whose entries may or may not have been applied, as with a command
 * of its own; when it says the database is unreachable or past its bound, it also reaches every
 * caller still waiting, who would meet the same database a bound later.
 *
 * `afterContinuations`, for entries no caller waits on, whose answers are being written: a lone
 * entry waits until the promise continuations queued so far have run (process.nextTick runs once
 * they are done), the answer's among them, so that a JSON answer reaches its socket before the
 * command wakes the database, which on two shared cores may take this process's core on the spot.
 * (Node writes an HTTP/2 answer later, in the check phase.) Not setImmediate: that also waits
 * behind the rest of the poll phase's I/O, and cost 2–10% at c=16 (README "Performance").
 */
export function createCommandBatcher<E extends Document, O>(send: SendBatch<E, O>, maxBatch = 100, afterContinuations = false): (entry: E) => Promise<O> {
  let queue: Waiting<E, O>[] = [];
  let sending = false;

  const sendBatch = async (batch: Waiting<E, O>[]) => {
    try {
      const outcomes = await send(batch.map((w) => w.entry));
      batch.forEach((w, i) => {
        const o = outcomes[i];
        if (!o) w.fail(new Error(`the batch's command answered for ${outcomes.length} of ${batch.length} entries`));
        else if ("error" in o) w.fail(o.error);
        else w.settle(o.value);
      });
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
        await sendBatch(batch);
      }
    } finally {
      sending = false;
    }
  };

  return (entry) =>
    new Promise<O>((settle, fail) => {
      queue.push({ entry, settle, fail });
      if (sending) return;
      if (!afterContinuations) return void drain();
      sending = true; // entries queued meanwhile join the one command
      process.nextTick(() => void drain());
    });
}
