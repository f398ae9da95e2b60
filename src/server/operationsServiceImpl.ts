import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  OperationsService,
  type CallbackSchema,
  type GetPaymentTimelineRequest,
  type ListParkedCallbacksRequest,
  type RedeliverCallbacksRequest,
} from "../../gen/genstore/payment/v1/operations_service_pb.js";
import type { CallbackDispatcher } from "../callbacks/dispatcher.js";
import { notFound } from "../payments/errors.js";
import type { CallbackRecord, PaymentRecord, PaymentRepository } from "../payments/records.js";
import type { Logger } from "../observability/logger.js";
import { handleWith } from "./handleWith.js";
import type { PaymentListing } from "../payments/paymentListing.js";
import { paymentListRpcs } from "./paymentListRpcs.js";

const ts = (d: Date | null | undefined) => (d ? timestampFromDate(new Date(d)) : undefined);

function toCallback(p: PaymentRecord, cb: CallbackRecord): MessageInitShape<typeof CallbackSchema> {
  return {
    shopId: p.shopId,
    paymentId: p._id,
    id: cb.id,
    kind: cb.kind,
    targetId: cb.targetId,
    state: cb.state,
    bodyJson: JSON.stringify(cb.body),
    attempts: cb.attempts.map((a) => ({ time: ts(a.at), httpStatus: a.httpStatus ?? 0, error: a.error ?? "", durationMs: a.durationMs })),
    nextAttemptTime: ts(cb.nextAttemptAt),
    createTime: ts(cb.createdAt),
    deliverTime: ts(cb.deliveredAt),
    parkedReason: cb.parkedReason ?? "",
  };
}

/** OperationsService (internal, operators): parked callbacks, redelivery, payment timelines. */
export function createOperationsServiceImpl(
  repository: PaymentRepository,
  dispatcher: CallbackDispatcher,
  log: Logger,
  listing: PaymentListing,
): ServiceImpl<typeof OperationsService> {
  const m = OperationsService.method;
  return {
    ...paymentListRpcs(listing, log),
    listParkedCallbacks: handleWith(m.listParkedCallbacks.input, m.listParkedCallbacks.name, log, false, async (_meta, req: ListParkedCallbacksRequest) => {
      const limit = req.limit <= 0 ? 100 : Math.min(req.limit, 1000);
      const payments = await repository.findParkedCallbacks(req.shopId || undefined, limit);
      return { callbacks: payments.flatMap((p) => p.callbacks.filter((c) => c.state === "parked").map((c) => toCallback(p, c))) };
    }),
    redeliverCallbacks: handleWith(m.redeliverCallbacks.input, m.redeliverCallbacks.name, log, false, async (_meta, req: RedeliverCallbacksRequest) => {
      let requeued = 0;
      if (req.paymentId) {
        if (!req.shopId) throw notFound("shopId is needed with paymentId");
        if (!(await repository.findPayment(req.shopId, req.paymentId))) throw notFound(`payment ${req.paymentId} not found`);
        requeued = await dispatcher.redeliver(req.shopId, req.paymentId, req.callbackId || undefined);
      } else {
        for (;;) {
          const batch = await repository.findParkedCallbacks(req.shopId || undefined, 200);
          let pass = 0;
          for (const p of batch) pass += await dispatcher.redeliver(p.shopId, p._id);
          requeued += pass;
          if (batch.length < 200 || pass === 0) break;
        }
      }
      log({ level: "info", msg: "callbacks requeued by an operator", shopId: req.shopId, paymentId: req.paymentId, callbackId: req.callbackId, requeued });
      return { requeued };
    }),
    getPaymentTimeline: handleWith(m.getPaymentTimeline.input, m.getPaymentTimeline.name, log, false, async (_meta, req: GetPaymentTimelineRequest) => {
      const p = await repository.findPayment(req.shopId, req.paymentId);
      if (!p) throw notFound(`payment ${req.paymentId} not found in shop ${req.shopId}`);
      return {
        state: p.state,
        events: p.timeline.map((e) => ({
          time: ts(e.at),
          event: e.event,
          requestId: e.requestId ?? "",
          state: e.state ?? "",
          operationKind: e.operation?.kind ?? "",
          operationId: e.operation?.id ?? "",
          detail: e.detail ?? "",
        })),
        callbacks: p.callbacks.map((c) => toCallback(p, c)),
      };
    }),
  };
}
