import type { CallbackAttempt, CallbackRecord, OperationKind, PaymentRecord, TimelineEvent } from "../payments/records.js";

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

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(v as string | number));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));

/*
 * The texts are compact: FerretDB's cost per write grows with the document's bytes too (a
 * payment-shaped insert and update cost it 2.0 ms of CPU at 1.4 KB against 1.7 at 1.1 KB and 1.3
 * for the floor's 60 bytes, README "Performance"). An event is an array, dates are milliseconds
 * since the epoch, and what can be derived (a callback's id) or is the default is left out. Texts
 * written in the longer form before read as they are.
 */

/** An event: [at, event, requestId, state, operation kind, operation id, detail], trailing blanks left out. */
type EventText = [number, string, ...(string | null)[]];

export function encodeEvent(e: TimelineEvent): string {
  const text: EventText = [e.at.getTime(), e.event, e.requestId ?? null, e.state ?? null, e.operation?.kind ?? null, e.operation?.id ?? null, e.detail ?? null];
  while (text.length > 2 && text[text.length - 1] === null) text.pop();
  return JSON.stringify(text);
}

export function encodeCallback(c: CallbackRecord): string {
  const { id, attempts, nextAttemptAt, createdAt, deliveredAt, retryFrom, ...rest } = c;
  const text: Record<string, unknown> = rest;
  if (id !== callbackId(c)) text.id = id;
  if (attempts.length) text.attempts = attempts.map((a) => ({ ...a, at: a.at.getTime() }));
  if (nextAttemptAt) text.nextAttemptAt = nextAttemptAt.getTime();
  text.createdAt = createdAt.getTime();
  if (deliveredAt) text.deliveredAt = deliveredAt.getTime();
  if (retryFrom) text.retryFrom = retryFrom.getTime();
  return JSON.stringify(text);
}

const callbackId = (c: Pick<CallbackRecord, "kind" | "targetId">) => `${c.kind}:${c.targetId}`;

export function decodeEvent(stored: string | TimelineEvent): TimelineEvent {
  if (typeof stored !== "string") return stored;
  const e = JSON.parse(stored) as TimelineEvent | EventText;
  if (!Array.isArray(e)) return { ...e, at: date(e.at) };
  const [at, event, requestId, state, kind, id, detail] = e;
  const decoded: TimelineEvent = { at: date(at), event };
  // null is a blank; an empty string is a value.
  if (requestId != null) decoded.requestId = requestId;
  if (state != null) decoded.state = state as TimelineEvent["state"];
  if (kind != null && id != null) decoded.operation = { kind: kind as OperationKind, id };
  if (detail != null) decoded.detail = detail;
  return decoded;
}

export function decodeCallback(stored: string | CallbackRecord): CallbackRecord {
  if (typeof stored !== "string") return stored;
  const c = JSON.parse(stored) as Omit<CallbackRecord, "id" | "attempts"> & Partial<Pick<CallbackRecord, "id" | "attempts">>;
  const decoded: CallbackRecord = {
    ...c,
    id: c.id ?? callbackId(c),
    attempts: (c.attempts ?? []).map((a): CallbackAttempt => ({ ...a, at: date(a.at) })),
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

/** Packed fields left out of the text while they hold these values (a new payment's). */
const PACKED_DEFAULTS: Partial<PaymentRecord> = {
  method: "card",
  manualCapture: false,
  captureAtOnce: true,
  channelPaymentId: "",
  authorizedMinor: 0,
  capturedMinor: 0,
  refundableMinor: 0,
  refundReservedMinor: 0,
  refundedMinor: 0,
  activeOperation: null,
};
const isDefault = (k: string, v: unknown) => (k === "refundsInFlight" ? Array.isArray(v) && v.length === 0 : PACKED_DEFAULTS[k as keyof PaymentRecord] === v);

/**
 * The packed text of a payment's cold fields stored under `key`: defaults are left out, and so is
 * the PSP idempotency key, which is the payment's storage key (the document's _id).
 */
export function packFields(p: Partial<PaymentRecord>, key: string): string {
  const cold: Record<string, unknown> = {};
  for (const k of PACKED_FIELDS) if (p[k] !== undefined && !isDefault(k, p[k]) && !(k === "idempotencyKey" && p[k] === key)) cold[k] = p[k];
  return JSON.stringify(cold);
}

/** The cold fields of a packed text read from the document stored under `key`. */
function unpackFields(text: string, key: unknown): Partial<PaymentRecord> {
  const cold = JSON.parse(text) as Partial<PaymentRecord>;
  return { ...PACKED_DEFAULTS, refundsInFlight: [], ...(typeof key === "string" ? { idempotencyKey: key } : {}), ...cold };
}

/** A payment's fields as stored under `key`; with `pack`, its cold fields in one text (see PACKED_FIELDS). */
export function encodeEntries<T extends Pick<PaymentRecord, "timeline" | "callbacks">>(
  p: T,
  pack: { key: string } | false = false,
): Omit<T, "timeline" | "callbacks"> & StoredEntries {
  const fields = pack ? { ...Object.fromEntries(Object.entries(p).filter(([k]) => !isPacked(k))), fields: packFields(p, pack.key) } : p;
  return { ...(fields as T), timeline: p.timeline.map(encodeEvent), ...storedOutbox(p.callbacks) };
}

/**
 * A stored payment's fields as records (any form: packed fields win over top-level ones an older
 * version left). `_id`, the storage key, stays: the packed text's idempotency key defaults to it.
 */
export function decodeEntries<T extends object>(doc: T): Omit<T, "timeline" | "callbacks" | "parkedCallbacks"> & Pick<PaymentRecord, "timeline" | "callbacks"> {
  const { parkedCallbacks: _count, timeline, callbacks, fields, ...rest } = doc as T & Partial<StoredEntries> & { fields?: unknown };
  const unpacked = typeof fields === "string" ? unpackFields(fields, (rest as { _id?: unknown })._id) : {};
  return { ...rest, ...unpacked, timeline: (timeline ?? []).map(decodeEvent), callbacks: (callbacks ?? []).map(decodeCallback) } as unknown as Omit<
    T,
    "timeline" | "callbacks" | "parkedCallbacks"
  > &
    Pick<PaymentRecord, "timeline" | "callbacks">;
}

/** Payments with a parked callback, in either form. */
export const hasParkedCallback = { $or: [{ parkedCallbacks: { $gt: 0 } }, { "callbacks.state": "parked" }] };
