import type { CallbackAttempt, CallbackRecord, PaymentRecord, TimelineEvent } from "../payments/records.js";

/**
 * A payment's timeline events and outbox callbacks are stored one JSON text each, not as nested
 * documents. The embedded FerretDB converts every value of a document on every read and write, so
 * its cost grows with the number of values, not bytes: a payment with 15 events and 5 callbacks
 * cost it 7 ms of CPU per update and 5 ms per read as documents, 2.8 ms and 1.6 ms as texts
 * (README "Performance"). Nothing queries inside them except "has a parked callback", which the
 * top-level `parkedCallbacks` count answers. Documents written before this are read as they are.
 */
export interface StoredEntries {
  timeline: (string | TimelineEvent)[];
  callbacks: (string | CallbackRecord)[];
  /** How many callbacks are parked, for the operators' queries. */
  parkedCallbacks?: number;
}

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(v as string));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));

export const encodeEvent = (e: TimelineEvent): string => JSON.stringify(e);
export const encodeCallback = (c: CallbackRecord): string => JSON.stringify(c);

export function decodeEvent(stored: string | TimelineEvent): TimelineEvent {
  if (typeof stored !== "string") return stored;
  const e = JSON.parse(stored) as TimelineEvent;
  return { ...e, at: date(e.at) };
}

export function decodeCallback(stored: string | CallbackRecord): CallbackRecord {
  if (typeof stored !== "string") return stored;
  const c = JSON.parse(stored) as CallbackRecord;
  const decoded: CallbackRecord = {
    ...c,
    attempts: c.attempts.map((a): CallbackAttempt => ({ ...a, at: date(a.at) })),
    nextAttemptAt: dateOrNull(c.nextAttemptAt),
    createdAt: date(c.createdAt),
  };
  if (c.deliveredAt !== undefined) decoded.deliveredAt = date(c.deliveredAt);
  if (c.retryFrom !== undefined) decoded.retryFrom = date(c.retryFrom);
  return decoded;
}

/** The outbox as stored: its callbacks' texts and the parked count. */
export function storedOutbox(callbacks: readonly CallbackRecord[]): { callbacks: string[]; parkedCallbacks: number } {
  return { callbacks: callbacks.map(encodeCallback), parkedCallbacks: callbacks.filter((c) => c.state === "parked").length };
}

/**
 * The payment's fields that no query of ours filters, sorts or projects on FerretDB, packed into
 * one text (`fields`) on a database whose guards are checked in the service (decisions.md D11):
 * FerretDB's cost per insert, read and update grows with the number of values, and these are
 * two thirds of a payment's. State, shop, test, dates, version and the outbox stay top-level for
 * the scans and listings; MongoDB, whose updates test amounts and holds in their filters, keeps
 * every field top-level. None of them holds a date (the text is JSON).
 */
export const PACKED_FIELDS = [
  "method",
  "amount",
  "manualCapture",
  "captureAtOnce",
  "requestHash",
  "psp",
  "idempotencyKey",
  "channelPaymentId",
  "card",
  "actionUrl",
  "returnUrl",
  "cancelUrl",
  "error",
  "authorizedMinor",
  "capturedMinor",
  "refundableMinor",
  "refundReservedMinor",
  "refundedMinor",
  "activeOperation",
  "refundsInFlight",
] as const satisfies readonly (keyof PaymentRecord)[];
const packed = new Set<string>(PACKED_FIELDS);
export const isPacked = (field: string): boolean => packed.has(field);

/** The packed text of a payment's cold fields. */
export function packFields(p: Partial<PaymentRecord>): string {
  const cold: Record<string, unknown> = {};
  for (const k of PACKED_FIELDS) if (p[k] !== undefined) cold[k] = p[k];
  return JSON.stringify(cold);
}

/** A payment's fields as stored; `pack`: its cold fields in one text (see PACKED_FIELDS). */
export function encodeEntries<T extends Pick<PaymentRecord, "timeline" | "callbacks">>(p: T, pack = false): Omit<T, "timeline" | "callbacks"> & StoredEntries {
  const fields = pack ? { ...Object.fromEntries(Object.entries(p).filter(([k]) => !isPacked(k))), fields: packFields(p) } : p;
  return { ...(fields as T), timeline: p.timeline.map(encodeEvent), ...storedOutbox(p.callbacks) };
}

/** A stored payment's fields as records (any form: packed fields win over top-level ones an older version left). */
export function decodeEntries<T extends object>(doc: T): Omit<T, "timeline" | "callbacks" | "parkedCallbacks"> & Pick<PaymentRecord, "timeline" | "callbacks"> {
  const { parkedCallbacks: _count, timeline, callbacks, fields, ...rest } = doc as T & Partial<StoredEntries> & { fields?: unknown };
  const unpacked = typeof fields === "string" ? (JSON.parse(fields) as object) : {};
  return { ...rest, ...unpacked, timeline: (timeline ?? []).map(decodeEvent), callbacks: (callbacks ?? []).map(decodeCallback) } as unknown as Omit<
    T,
    "timeline" | "callbacks" | "parkedCallbacks"
  > &
    Pick<PaymentRecord, "timeline" | "callbacks">;
}

/** Payments with a parked callback, in either form. */
export const hasParkedCallback = { $or: [{ parkedCallbacks: { $gt: 0 } }, { "callbacks.state": "parked" }] };
