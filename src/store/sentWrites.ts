import type { Document } from "mongodb";

/**
 * What the repository sent to the database for a payment's claim (the document inserted) and its
 * updates (the update document), by the record or change each came from. The payment cache lays
 * an update over the document it holds, as the database does, instead of decoding the payment and
 * encoding it whole again after each write (README, Performance: about 4% of the service's busy
 * time at c=16), and keeps a claim's document instead of encoding the record a second time.
 * Entries go with the objects they are keyed by.
 */
export interface SentWrites {
  claimed(record: object, doc: Document): void;
  updated(change: object, update: Document): void;
  /** The document sent to claim `record`, once (noted before the insert: take it only once inserted). */
  takeClaim(record: object): Document | undefined;
  /** The update sent for `change`, once. */
  takeUpdate(change: object): Document | undefined;
}

export function createSentWrites(): SentWrites {
  const claims = new WeakMap<object, Document>();
  const updates = new WeakMap<object, Document>();
  const take = (map: WeakMap<object, Document>, key: object) => {
    const found = map.get(key);
    map.delete(key);
    return found;
  };
  return {
    claimed: (record, doc) => void claims.set(record, doc),
    updated: (change, update) => void updates.set(change, update),
    takeClaim: (record) => take(claims, record),
    takeUpdate: (change) => take(updates, change),
  };
}

const APPLIED = new Set(["$set", "$push", "$inc"]);

/** Fields as a $set stores them: BSON writes undefined as null. */
export const asSet = <T extends object>(fields: T): T => Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v === undefined ? null : v])) as T;

/**
 * `doc` after `update`, as the database applies it: `$set` (undefined stored as null, as the
 * driver writes it), `$push` of one value, `$inc`. Undefined for any other operator or form
 * (`$pull`, `$each`, a dotted path): the caller then works the document out another way.
 */
export function applyUpdate(doc: Document, update: Document): Document | undefined {
  for (const [op, fields] of Object.entries(update)) {
    if (!APPLIED.has(op)) return undefined;
    for (const [k, v] of Object.entries(fields as Document)) {
      if (k.includes(".") || k.startsWith("$")) return undefined;
      if (op === "$push" && v !== null && typeof v === "object" && Object.keys(v as object).some((m) => m.startsWith("$"))) return undefined;
    }
  }
  const after: Document = { ...doc, ...asSet((update.$set ?? {}) as Document) };
  for (const [k, v] of Object.entries((update.$push ?? {}) as Document)) after[k] = [...((after[k] as unknown[] | undefined) ?? []), v];
  for (const [k, v] of Object.entries((update.$inc ?? {}) as Document)) after[k] = (Number(after[k]) || 0) + (v as number);
  return after;
}
