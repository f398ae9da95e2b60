import { PaymentStatus, RefundStatus } from "../../gen/genstore/payment/v1/common_pb.js";
import type { OperationState, PaymentState } from "./records.js";

/** The one mapping from our payment state to Genstore's status (design §2.5). */
export function genstorePaymentStatus(state: PaymentState): PaymentStatus {
  switch (state) {
    case "received":
    case "requires_action":
    case "pending":
    case "unknown":
      return PaymentStatus.PROCESSING;
    case "authorized":
    // The authorization was reported and stays final; Genstore learns of the void from its own result.
    case "voided":
      return PaymentStatus.AUTH_SUCCESS;
    case "captured":
    case "partially_refunded":
    case "refunded":
      return PaymentStatus.SUCCESS;
    case "declined":
    case "failed":
      return PaymentStatus.FAILURE;
  }
}

export function genstoreRefundStatus(state: OperationState): RefundStatus {
  switch (state) {
    case "processing":
      return RefundStatus.PROCESSING;
    case "succeeded":
      return RefundStatus.SUCCESS;
    case "failed":
      return RefundStatus.FAILURE;
  }
}
