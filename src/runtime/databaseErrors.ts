import { MongoServerError } from "mongodb";

/** The server's code for an insert whose unique `_id` (or key) is taken: a claim met its twin. */
export const DUPLICATE_KEY = 11000;

/** Whether an insert failed only because its unique key is taken. */
export const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;

/** The driver's errors that mean "the database is not answering now", by name (works across realms). */
const unavailableNames = new Set([
  "MongoServerSelectionError",
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoNotConnectedError",
  "MongoOperationTimeoutError",
  "MongoTopologyClosedError",
  "MongoServerClosedError",
  "MongoPoolClearedError",
  "MongoStalePrimaryError",
  "DatabaseTimeoutError",
]);

/** Not-primary and shutdown codes of a replica set failing over: also "try again in a moment". */
const failoverCodes = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/**
 * Whether an error says the database is unreachable, stalled or failing over, rather than that a
 * request was wrong: such a request is answered "unavailable, retry" (503 / UNAVAILABLE).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { name, code } = e as { name?: unknown; code?: unknown };
    if (typeof name === "string" && unavailableNames.has(name)) return true;
    if (typeof code === "number" && failoverCodes.has(code)) return true;
    if (code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE") return true;
  }
  return false;
}
