/** The closed set of domain error codes; src/server/errorMapping.ts maps them to Connect and HTTP. */
export type PaymentErrorCode =
  | "invalid_argument"
  | "not_found"
  | "idempotency_conflict"
  | "failed_precondition"
  | "unauthenticated"
  | "permission_denied"
  | "rate_limited"
  | "unavailable"
  | "internal";

/**
 * A domain error. `message` is safe to show to Genstore (it says what is wrong and what to do);
 * `operatorMessage` carries detail for our logs only. Neither may contain card data.
 */
export class PaymentError extends Error {
  override name = "PaymentError";
  constructor(
    readonly code: PaymentErrorCode,
    message: string,
    readonly operatorMessage?: string,
  ) {
    super(message);
  }
}

export const invalidArgument = (message: string) => new PaymentError("invalid_argument", message);
export const notFound = (message: string) => new PaymentError("not_found", message);
export const failedPrecondition = (message: string) => new PaymentError("failed_precondition", message);
