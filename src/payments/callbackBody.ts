import type { CallbackKind, CallbackRecord, OperationRecord, PaymentRecord } from "../payments/records.js";

/**
 * Genstore's "Update * result" calls (decisions.md D7). Genstore has not published their bodies;
 * ours are written here only, so a correction from Genstore changes this one file.
 *
 *   PUT {base}/api/202412/app/payment/{paymentId}        {"paymentId","status","channelPaymentId","error"}
 *   PUT {base}/api/202412/app/pre_authorize/{paymentId}  {"paymentId","status","channelPaymentId","error"}
 *   PUT {base}/api/202412/app/capture/{captureId}        {"captureId","paymentId","status","channelCaptureId","error"}
 *   PUT {base}/api/202412/app/void/{voidId}              {"voidId","paymentId","status","channelVoidId","error"}
 *   PUT {base}/api/202412/app/refund/{refundId}          {"refundId","paymentId","status","channelRefundId","error"}
 */
export const CALLBACK_API_VERSION = "202412";

export function callbackPath(kind: CallbackKind, targetId: string): string {
  return `/api/${CALLBACK_API_VERSION}/app/${kind}/${encodeURIComponent(targetId)}`;
}

const channelField: Record<CallbackKind, string> = {
  payment: "channelPaymentId",
  pre_authorize: "channelPaymentId",
  capture: "channelCaptureId",
  void: "channelVoidId",
  refund: "channelRefundId",
};

function record(kind: CallbackKind, targetId: string, body: Record<string, unknown>, at: Date): CallbackRecord {
  return { id: `${kind}:${targetId}`, kind, targetId, body, state: "pending", attempts: [], nextAttemptAt: at, createdAt: at };
}

/** The result of a payment: success, authorization (manual capture) or failure. */
export function paymentCallback(p: PaymentRecord, kind: "payment" | "pre_authorize", success: boolean, error: string | undefined, at: Date): CallbackRecord {
  return record(
    kind,
    p._id,
    {
      paymentId: p._id,
      status: success,
      [channelField[kind]]: p.channelPaymentId,
      ...(success ? {} : { error: error ?? "payment failed" }),
    },
    at,
  );
}

/** The result of a capture, void or refund. */
export function operationCallback(op: OperationRecord, channelId: string, success: boolean, error: string | undefined, at: Date): CallbackRecord {
  return record(
    op.kind,
    op._id,
    {
      [`${op.kind}Id`]: op._id,
      paymentId: op.paymentId,
      status: success,
      [channelField[op.kind]]: channelId,
      ...(success ? {} : { error: error ?? `${op.kind} failed` }),
    },
    at,
  );
}
