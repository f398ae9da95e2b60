import type { Collection, WithId } from "mongodb";
import type { OperationKind, OperationRecord, PaymentRecord } from "../payments/records.js";
import { decodeEntries, encodeEntries } from "./storedEntries.js";

/**
 * Records are stored under a key derived from the shop and Genstore's id (the PSP idempotency
 * key): the unique _id is still the claim, scoped to the shop, and every lookup is by _id, the
 * one query the embedded FerretDB answers from an index. Genstore's id is kept as genstoreId.
 */
export type Stored<T extends { _id: string }> = Omit<T, "_id"> & { _id: string; genstoreId: string };

// A payment (the one record with a timeline) keeps its events and callbacks as texts: storedEntries.ts.
export function toStored<T extends { _id: string }>(record: T, key: string, pack = false): Stored<T> {
  const fields = "timeline" in record ? encodeEntries(record as unknown as PaymentRecord, pack) : record;
  return { ...fields, _id: key, genstoreId: record._id } as unknown as Stored<T>;
}

export function fromStored<T extends { _id: string }>(doc: WithId<Stored<T>> | Stored<T> | null): T | null {
  if (!doc) return null;
  const { genstoreId, ...rest } = doc;
  const fields = "timeline" in rest ? decodeEntries(rest) : rest;
  return { ...fields, _id: genstoreId } as unknown as T;
}

export type Payments = Collection<Stored<PaymentRecord>>;
export type Operations = (kind: OperationKind) => Collection<Stored<OperationRecord>>;
