import type { Collection, Db, Filter, UpdateFilter } from "mongodb";
import { operationKindOfKey, pspIdempotencyKey } from "../payments/idempotencyKeys.js";
import { createVersionBook, saveOutboxes, type VersionBook } from "./outboxWrites.js";
import { outboxAndScans } from "./outboxAndScans.js";
import { createInsertBatcher, insertsOneByOne, type InsertOne } from "./insertBatcher.js";
import { createStatementBudget } from "./statementBudget.js";
import { createUpdateBatchers, type UpdateById } from "./updateBatcher.js";
import { asSet, type SentWrites } from "./sentWrites.js";
import { fromStored, toStored, type Operations, type Payments, type Stored } from "./storedRecords.js";
import { encodeCallback, encodeEvent, isPacked, packFields } from "./storedEntries.js";
import type { ClaimResult, OperationKind, OperationRecord, PaymentChange, PaymentGuard, PaymentRecord, PaymentRepository } from "../payments/records.js";

export const collectionOf: Record<OperationKind, string> = { capture: "captures", void: "voids", refund: "refunds" };

export { fromStored, type Stored } from "./storedRecords.js";

/** The filter of a lookup by storage key (see byKey in createPaymentRepository). */
type KeyFilter = (key: string, shopId: string) => object;

/** Inserts `record` under `key`; when the key is taken, returns the record that holds it. */
async function claim<T extends { _id: string; shopId: string }>(
  collection: Collection<Stored<T>>,
  insert: InsertOne<Stored<T>>,
  record: T,
  key: string,
  byKey: KeyFilter,
  pack: boolean,
  sent?: SentWrites,
): Promise<ClaimResult<T>> {
  const doc = toStored(record, key, pack);
  sent?.claimed(record, doc);
  if ((await insert(doc as never)) === "inserted") return { inserted: true, record };
  const existing = fromStored<T>(await collection.findOne(byKey(key, record.shopId) as never));
  if (!existing) throw new Error(`${collection.collectionName} ${key}: the insert met a duplicate _id, and no document holds it`);
  return { inserted: false, record: existing };
}

function meets(p: PaymentRecord, shopId: string, guard: PaymentGuard): boolean {
  if (p.shopId !== shopId) return false;
  if (guard.states && !guard.states.includes(p.state)) return false;
  if (guard.idle && p.activeOperation) return false;
  if (guard.activeOperationId !== undefined && p.activeOperation?.id !== guard.activeOperationId) return false;
  if (guard.refundableAtLeast !== undefined && p.refundableMinor < guard.refundableAtLeast) return false;
  if (guard.refundInFlightId !== undefined && !p.refundsInFlight.some((r) => r.id === guard.refundInFlightId)) return false;
  return true;
}

/** The guard as part of the update's filter: one conditional single-document update. */
function guardFilter(key: string, shopId: string, guard: PaymentGuard): Filter<Stored<PaymentRecord>> {
  const filter: Record<string, unknown> = { _id: key, shopId };
  if (guard.states) filter.state = { $in: [...guard.states] };
  if (guard.idle) filter.activeOperation = null;
  if (guard.activeOperationId !== undefined) filter["activeOperation.id"] = guard.activeOperationId;
  if (guard.refundableAtLeast !== undefined) filter.refundableMinor = { $gte: guard.refundableAtLeast };
  if (guard.refundInFlightId !== undefined) filter["refundsInFlight.id"] = guard.refundInFlightId;
  return filter as Filter<Stored<PaymentRecord>>;
}

function toUpdate(change: PaymentChange): UpdateFilter<Stored<PaymentRecord>> {
  const push: Record<string, unknown> = { timeline: encodeEvent(change.event) };
  const set: Record<string, unknown> = { ...change.set, updatedAt: change.event.at };
  if (change.callback) {
    push.callbacks = encodeCallback(change.callback);
    set.nextCallbackAt = change.event.at;
  }
  if (change.addRefundInFlight) push.refundsInFlight = change.addRefundInFlight;
  const update: UpdateFilter<Stored<PaymentRecord>> = { $set: set as never, $push: push as never };
  update.$inc = { ...change.inc, version: 1 } as never;
  if (change.removeRefundInFlight !== undefined) {
    update.$pull = { refundsInFlight: { id: change.removeRefundInFlight.id, minor: change.removeRefundInFlight.minor } } as never;
  }
  return update;
}

/** What toUpdate(change) makes of `p` in the database, computed here. */
export function afterChange(p: PaymentRecord, change: PaymentChange): PaymentRecord {
  const set = asSet(change.set ?? {});
  const after: PaymentRecord = { ...p, ...set, updatedAt: change.event.at, version: (p.version ?? 0) + 1, timeline: [...p.timeline, change.event] };
  // $inc on a missing field starts from 0; $push on a missing array starts it.
  for (const [field, by] of Object.entries(change.inc ?? {}) as [keyof NonNullable<PaymentChange["inc"]>, number][]) after[field] = (p[field] ?? 0) + by;
  if (change.callback) {
    after.callbacks = [...p.callbacks, change.callback];
    after.nextCallbackAt = change.event.at;
  }
  let inFlight = p.refundsInFlight ?? [];
  if (change.addRefundInFlight) inFlight = [...inFlight, change.addRefundInFlight];
  const pulled = change.removeRefundInFlight;
  if (pulled) inFlight = inFlight.filter((r) => r.id !== pulled.id || r.minor !== pulled.minor);
  after.refundsInFlight = inFlight;
  return after;
}

/**
 * FerretDB's way (see atomicConditionalUpdates): the condition is checked on the record as read
 * under its lock (`known`), or read now. With `known` the result is computed here, not sent back:
 * a plain update costs FerretDB less than a findAndModify, and goes in a batch with those
 * of other payments (updateBatcher.ts).
 */
async function updateCheckedHere<T extends { _id: string }>(
  collection: Collection<Stored<T>>,
  updateById: UpdateById,
  key: string,
  known: T | undefined,
  allowed: (current: T) => boolean,
  updateOf: (current: T) => UpdateFilter<Stored<T>>,
  after: (known: T) => T,
): Promise<T | null> {
  const current = known ?? fromStored<T>((await collection.findOne({ _id: key } as never)) as Stored<T> | null);
  if (!current || !allowed(current)) return null;
  const update = updateOf(current);
  if (known) return (await updateById(key, update)) ? after(known) : null;
  return fromStored<T>((await collection.findOneAndUpdate({ _id: key } as never, update, { returnDocument: "after" })) as Stored<T> | null);
}

/**
 * The update of a payment whose cold fields are packed (storedEntries.ts): those fields' changes
 * become one $set of the packed text, computed from the record as read under the payment's lock.
 */
function packedUpdate(change: PaymentChange, after: PaymentRecord): UpdateFilter<Stored<PaymentRecord>> {
  const { $set, $push } = toUpdate(change) as { $set: Record<string, unknown>; $push: Record<string, unknown> };
  const set: Record<string, unknown> = { fields: packFields(after) };
  for (const [k, v] of Object.entries($set)) if (!isPacked(k)) set[k] = v;
  const { refundsInFlight: _inFlight, ...push } = $push;
  return { $set: set, $push: push, $inc: { version: 1 } } as UpdateFilter<Stored<PaymentRecord>>;
}

/** `update`, noted as sent for `change` (sentWrites.ts). */
function noted(sent: SentWrites | undefined, change: PaymentChange, update: UpdateFilter<Stored<PaymentRecord>>) {
  sent?.updated(change, update);
  return update;
}

/**
 * Claims, by kind of record. On FerretDB the inserts of claims that meet go as one command, one
 * SQLite commit (decisions.md D11); MongoDB runs concurrent inserts side by side, so there each
 * goes at once. A payment's cold fields are packed where guards are checked here (FerretDB),
 * top-level where filters test them.
 */
function claimsOf(db: Db, payments: Payments, operations: Operations, atomic: boolean, byKey: KeyFilter, sent?: SentWrites) {
  const claimer = <T extends { _id: string; shopId: string }>(c: Collection<Stored<T>>, pack: boolean, sentHere?: SentWrites) => {
    const insert = atomic ? insertsOneByOne(c) : createInsertBatcher<Stored<T>>(db, c.collectionName);
    return (record: T, key: string) => claim(c, insert, record, key, byKey, pack, sentHere);
  };
  return {
    payment: claimer(payments, !atomic, sent),
    capture: claimer(operations("capture"), false),
    void: claimer(operations("void"), false),
    refund: claimer(operations("refund"), false),
  };
}

/** An operation of this shop still processing: the only kind that may be finished or deleted. */
const unfinishedIn = (shopId: string) => (op: Pick<OperationRecord, "shopId" | "state">) => op.shopId === shopId && op.state === "processing";

/** Outbox writes with their payments' storage keys. */
const withPaymentKeys = <W extends { shopId: string; paymentId: string }>(writes: readonly W[]) =>
  writes.map((w) => ({ ...w, key: pspIdempotencyKey("payment", w.shopId, w.paymentId) }));

export interface PaymentRepositoryOptions {
  /**
   * true on MongoDB: guards go into the update's filter, atomic across instances. false on the
   * embedded FerretDB, whose updates are read-then-write anyway and which can use an index only
   * for a filter on _id alone: the guard is checked on a read by _id, and the per-payment lock in
   * the service makes read and write one step (decisions.md D11).
   */
  atomicConditionalUpdates: boolean;
  sharedDatabase?: boolean; // other instances write to the same database (see VersionBook)
  versions?: VersionBook; // shared with the delivery journal
  sent?: SentWrites; // payments' claims and updates as sent, for the payment cache (FerretDB only)
}

export function createPaymentRepository(db: Db, opts: PaymentRepositoryOptions = { atomicConditionalUpdates: true }): PaymentRepository {
  const payments = db.collection<Stored<PaymentRecord>>("payments");
  const operations = (kind: OperationKind) => db.collection<Stored<OperationRecord>>(collectionOf[kind]);
  const paymentKey = (shopId: string, paymentId: string) => pspIdempotencyKey("payment", shopId, paymentId);
  const operationKey = (kind: OperationKind, shopId: string, id: string) => pspIdempotencyKey(kind, shopId, id);
  const ofShop = <T extends { shopId: string }>(shopId: string, record: T | null) => (record && record.shopId === shopId ? record : null);
  // On MongoDB lookups name the shop too: with the shard key { shopId, _id } each goes to one
  // shard (README "Scaling out"). FerretDB uses its index only for a filter on _id alone.
  const byKey: KeyFilter = (key, shopId) => (opts.atomicConditionalUpdates ? { _id: key, shopId } : { _id: key });
  const versions = opts.versions ?? createVersionBook(opts.atomicConditionalUpdates, opts.sharedDatabase ?? false);
  const seen = (record: PaymentRecord | null) => versions.seen(record && paymentKey(record.shopId, record._id), record);
  const claims = claimsOf(db, payments, operations, opts.atomicConditionalUpdates, byKey, opts.sent);
  // FerretDB's updates by _id go in batches (updateCheckedHere), within one budget with the outbox writes.
  const budget = createStatementBudget();
  const updateById = createUpdateBatchers(db, budget);

  return {
    claimPayment: async (record) => {
      const claimed = await claims.payment(record, paymentKey(record.shopId, record._id));
      seen(claimed.record);
      return claimed;
    },

    async findPayment(shopId, paymentId) {
      return seen(ofShop(shopId, fromStored<PaymentRecord>(await payments.findOne(byKey(paymentKey(shopId, paymentId), shopId)))));
    },

    async updatePayment(shopId, paymentId, guard, change, known) {
      const key = paymentKey(shopId, paymentId);
      if (opts.atomicConditionalUpdates) {
        return fromStored<PaymentRecord>(await payments.findOneAndUpdate(guardFilter(key, shopId, guard), toUpdate(change), { returnDocument: "after" }));
      }
      // Computed once: the packed text is made from it, and with `known` it is the answer.
      let after: PaymentRecord | undefined;
      const updated = await updateCheckedHere(
        payments,
        (id, update) => updateById(payments.collectionName)(id, update, change.answered),
        key,
        known,
        (p) => meets(p, shopId, guard),
        (p) => noted(opts.sent, change, packedUpdate(change, (after = afterChange(p, change)))),
        (p) => after ?? afterChange(p, change),
      );
      return seen(updated);
    },

    claimOperation: (record) => claims[record.kind](record, operationKey(record.kind, record.shopId, record._id)),

    async findOperation(kind, shopId, id) {
      return ofShop(shopId, fromStored<OperationRecord>(await operations(kind).findOne(byKey(operationKey(kind, shopId, id), shopId))));
    },

    async finishOperation(kind, shopId, id, set, known) {
      const key = operationKey(kind, shopId, id);
      const changed = { ...set, updatedAt: new Date() };
      const update = { $set: changed } as UpdateFilter<Stored<OperationRecord>>;
      if (opts.atomicConditionalUpdates) {
        return fromStored<OperationRecord>(
          await operations(kind).findOneAndUpdate({ _id: key, shopId, state: "processing" }, update, { returnDocument: "after" }),
        );
      }
      return updateCheckedHere(
        operations(kind),
        updateById(collectionOf[kind]),
        key,
        known,
        unfinishedIn(shopId),
        () => update,
        (op) => ({ ...op, ...asSet(changed) }),
      );
    },

    ...deletesAndKeyLookups(payments, operations, opts.atomicConditionalUpdates),
    ...outboxAndScans(payments, operations, {
      filter: (shopId, paymentId) => byKey(paymentKey(shopId, paymentId), shopId),
      bumped: (shopId, paymentId, version) => versions.seen(paymentKey(shopId, paymentId), { version } as PaymentRecord),
    }),
    saveOutboxes: (writes) => saveOutboxes(payments, versions, withPaymentKeys(writes), budget),
  };
}

/** Deleting an unsent claim, and lookups by PSP idempotency key (webhooks). */
function deletesAndKeyLookups(
  payments: Payments,
  operations: Operations,
  atomic: boolean,
): Pick<PaymentRepository, "deleteOperation" | "findPaymentByIdempotencyKey" | "findOperationByIdempotencyKey"> {
  return {
    async deleteOperation(kind, shopId, id) {
      const key = pspIdempotencyKey(kind, shopId, id);
      if (atomic) {
        await operations(kind).deleteOne({ _id: key, shopId, state: "processing" });
        return;
      }
      const current = await operations(kind).findOne({ _id: key });
      if (current && unfinishedIn(shopId)(current)) await operations(kind).deleteOne({ _id: key });
    },

    // The payment's storage key is its PSP idempotency key.
    findPaymentByIdempotencyKey: async (idempotencyKey) => fromStored<PaymentRecord>(await payments.findOne({ _id: idempotencyKey })),

    async findOperationByIdempotencyKey(idempotencyKey) {
      // Operations are stored under their key, whose prefix names the kind.
      const kind = operationKindOfKey(idempotencyKey);
      return kind ? fromStored<OperationRecord>(await operations(kind).findOne({ _id: idempotencyKey })) : null;
    },
  };
}
