import type { Db, Filter } from "mongodb";
import { summaryOf, type PageCursor, type PaymentFilter, type PaymentListing } from "../payments/paymentListing.js";
import type { PaymentRecord } from "../payments/records.js";
import { decodeEntries } from "./storedEntries.js";

type Stored = Omit<PaymentRecord, "_id"> & { _id: string; genstoreId: string };

/** What a summary needs of a stored payment (timeline for the PSP latency, callbacks for lags). */
const projection = { refundsInFlight: 0, requestHash: 0, idempotencyKey: 0, actionUrl: 0, returnUrl: 0, cancelUrl: 0 } as const;

function queryOf(f: PaymentFilter, after: PageCursor | undefined): Filter<Stored> {
  const q: Record<string, unknown> = {};
  if (f.shopId) q.shopId = f.shopId;
  if (f.paymentId) q.genstoreId = f.paymentId;
  if (f.states?.length) q.state = { $in: [...f.states] };
  if (f.test !== undefined) q.test = f.test;
  const created: Record<string, Date> = {};
  if (f.createdAfter) created.$gte = f.createdAfter;
  if (f.createdBefore) created.$lt = f.createdBefore;
  if (after && (!f.createdBefore || after.createdAt <= f.createdBefore.getTime())) created.$lte = new Date(after.createdAt);
  if (Object.keys(created).length) q.createdAt = created;
  return q as Filter<Stored>;
}

/** `patch`: what the stored payment says with what is kept beside it (the delivery journal). */
type Patch = (p: PaymentRecord) => PaymentRecord;
const asIs: Patch = (p) => p;
const toSummary = (d: Stored, patch: Patch) => summaryOf(patch({ ...decodeEntries(d), _id: d.genstoreId } as PaymentRecord));

/**
 * Payments listed by a database query, newest first: MongoDB answers from the indexes that
 * ensureIndexes creates (shopId/createdAt, state/createdAt, createdAt). Rows at the cursor's
 * very millisecond are re-read and skipped in order, so paging neither repeats nor loses one.
 */
export function createPaymentQueries(db: Db, patch: Patch = asIs): PaymentListing {
  const payments = db.collection<Stored>("payments");
  return {
    async list(filter, size, after) {
      const out = [];
      let skipped = 0;
      const cursor = payments.find(queryOf(filter, after), { projection }).sort({ createdAt: -1, shopId: -1, genstoreId: -1 });
      for await (const d of cursor) {
        const s = toSummary(d as Stored, patch);
        if (after && s.createdAt.getTime() === after.createdAt && !(s.shopId < after.shopId || (s.shopId === after.shopId && s.paymentId < after.paymentId))) {
          if (++skipped > 10_000) break;
          continue;
        }
        out.push(s);
        if (out.length > size) break;
      }
      await cursor.close();
      const page = out.slice(0, size);
      const last = page[page.length - 1];
      return {
        payments: page,
        ...(out.length > size && last ? { next: { createdAt: last.createdAt.getTime(), shopId: last.shopId, paymentId: last.paymentId } } : {}),
      };
    },
    async since(shopId, since, limit) {
      const docs = await payments
        .find({ ...(shopId ? { shopId } : {}), createdAt: { $gte: since } } as Filter<Stored>, { projection })
        .sort({ createdAt: -1, shopId: -1, genstoreId: -1 })
        .limit(limit)
        .toArray();
      // The newest `limit`, as the in-memory index answers, oldest first.
      return docs.reverse().map((d) => toSummary(d as Stored, patch));
    },
  };
}

/** Every stored payment's summary, for filling the in-memory index once. */
export async function* scanSummaries(db: Db, patch: Patch = asIs): AsyncIterable<ReturnType<typeof toSummary>> {
  for await (const d of db.collection<Stored>("payments").find({}, { projection })) yield toSummary(d as Stored, patch);
}
