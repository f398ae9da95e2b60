import { notFound } from "../errors.js";
import { genstoreRefundStatus } from "../status.js";
import type { Kernel } from "./kernel.js";
import type { RefundStatusAnswer, RequestMeta } from "./types.js";

/** Get refund details. */
export function getRefund(k: Kernel) {
  return async (meta: RequestMeta, refundId: string): Promise<RefundStatusAnswer> => {
    await k.shopOf(meta);
    const refund = await k.repository.findOperation("refund", meta.shopId, refundId);
    if (!refund) throw notFound("Not found refund information.");
    return {
      channelRefundId: refund.channelId,
      status: genstoreRefundStatus(refund.state),
      error: refund.state === "failed" ? (refund.error ?? "refund failed") : "",
    };
  };
}
