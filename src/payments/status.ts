import type { OperationState, PaymentState } from "./records.js";

/** Genstore's payment statuses (its API page's words); the edge maps them to the proto's enum. */
export type GenstorePaymentStatus = "PROCESSING" | "AUTH_SUCCESS" | "SUCCESS" | "FAILURE";
export type GenstoreRefundStatus = "PROCESSING" | "SUCCESS" | "FAILURE";

/** The one mapping from our payment state to Genstore's status (decisions.md D5). */
export function genstorePaymentStatus(state: PaymentState): GenstorePaymentStatus {
  switch (state) {
    case "received":
    case "requires_action":
    case "pending":
    case "unknown":
      return "PROCESSING";
    // A voided payment's authorization was reported and stays final; Genstore learns of the void from its own result.
    case "authorized":
    case "voided":
      return "AUTH_SUCCESS";
    case "captured":
    case "partially_refunded":
    case "refunded":
      return "SUCCESS";
    case "declined":
    case "failed":
      return "FAILURE";
  }
}

export function genstoreRefundStatus(state: OperationState): GenstoreRefundStatus {
  switch (state) {
    case "processing":
      return "PROCESSING";
    case "succeeded":
      return "SUCCESS";
    case "failed":
      return "FAILURE";
  }
}
