import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OperationsService, type GetPaymentStatsRequest, type ListPaymentsRequest } from "../../gen/genstore/payment/v1/operations_service_pb.js";
import { invalidArgument } from "../payments/errors.js";
import type { PageCursor, PaymentFilter, PaymentListing, PaymentSummary } from "../payments/paymentListing.js";
import { statsByMinute } from "../payments/paymentStats.js";
import type { PaymentState } from "../payments/records.js";
import type { Logger } from "../observability/logger.js";
import { handleWith } from "./handleWith.js";

const states: readonly PaymentState[] = [
  "received",
  "requires_action",
  "pending",
  "authorized",
  "captured",
  "partially_refunded",
  "refunded",
  "voided",
  "declined",
  "failed",
  "unknown",
];
const MAX_CHART_PAYMENTS = 200_000;

function filterOf(req: ListPaymentsRequest): PaymentFilter {
  const bad = req.states.filter((s) => !states.includes(s as PaymentState));
  if (bad.length) throw invalidArgument(`states: unknown ${bad.join(", ")}; use ${states.join(", ")}`);
  if (req.mode && req.mode !== "test" && req.mode !== "live") throw invalidArgument('mode must be "test", "live" or empty');
  return {
    shopId: req.shopId || undefined,
    states: req.states as PaymentState[],
    test: req.mode ? req.mode === "test" : undefined,
    createdAfter: req.createdAfter ? timestampDate(req.createdAfter) : undefined,
    createdBefore: req.createdBefore ? timestampDate(req.createdBefore) : undefined,
    paymentId: req.paymentId || undefined,
  };
}

function cursorOf(token: string): PageCursor | undefined {
  if (!token) return undefined;
  try {
    const c = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as PageCursor;
    if (typeof c.createdAt === "number" && typeof c.shopId === "string" && typeof c.paymentId === "string") return c;
  } catch {
    // refused below
  }
  throw invalidArgument("page_token is not one this service gave out");
}

const toWire = (s: PaymentSummary) => ({
  shopId: s.shopId,
  paymentId: s.paymentId,
  state: s.state,
  method: s.method,
  test: s.test,
  psp: s.psp,
  amountMinor: BigInt(s.amountMinor),
  currency: s.currency,
  channelPaymentId: s.channelPaymentId,
  error: s.error,
  createTime: timestampFromDate(s.createdAt),
  updateTime: timestampFromDate(s.updatedAt),
  callbacksPending: s.callbacksPending,
  callbacksParked: s.callbacksParked,
  cardBrand: s.cardBrand,
  cardLast4: s.cardLast4,
});

/** OperationsService.ListPayments and GetPaymentStats, over the payment listing. */
export function paymentListRpcs(listing: PaymentListing, log: Logger, now: () => Date = () => new Date()) {
  const m = OperationsService.method;
  return {
    listPayments: handleWith(m.listPayments.input, m.listPayments.name, log, false, async (_meta, req: ListPaymentsRequest) => {
      const size = req.pageSize <= 0 ? 50 : Math.min(req.pageSize, 500);
      const page = await listing.list(filterOf(req), size, cursorOf(req.pageToken));
      return { payments: page.payments.map(toWire), nextPageToken: page.next ? Buffer.from(JSON.stringify(page.next)).toString("base64url") : "" };
    }),
    getPaymentStats: handleWith(m.getPaymentStats.input, m.getPaymentStats.name, log, false, async (_meta, req: GetPaymentStatsRequest) => {
      const minutes = req.minutes <= 0 ? 180 : Math.min(req.minutes, 1440);
      const from = new Date(Math.floor(now().getTime() / 60_000) * 60_000 - (minutes - 1) * 60_000);
      const payments = await listing.since(req.shopId || undefined, from, MAX_CHART_PAYMENTS);
      return {
        buckets: statsByMinute(payments, from, minutes).map(({ start, ...counts }) => ({ ...counts, startTime: timestampFromDate(start) })),
      };
    }),
  };
}
