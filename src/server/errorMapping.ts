import { Code, ConnectError } from "@connectrpc/connect";
import { PaymentError, type PaymentErrorCode } from "../payments/errors.js";
import { isDatabaseUnavailable } from "../runtime/databaseErrors.js";

/** What a caller is told while the database does not answer: retry, nothing is lost. */
export const databaseUnavailable = () => new PaymentError("unavailable", "the payment service cannot reach its database right now; retry in a few seconds");

/** Seconds a client is asked to wait before retrying an unavailable service. */
export const RETRY_AFTER_UNAVAILABLE_S = 2;

/**
 * The one table that decides how a domain error is answered, on every protocol: its gRPC and
 * Connect code, and on the Genstore JSON routes either an HTTP status (the request never reached
 * the payment rules) or "answer": HTTP 200 with every documented field and the message in
 * `error`, as Genstore's API page answers every business outcome.
 */
export const errorAnswers: Record<PaymentErrorCode, { code: Code; json: number | "answer" }> = {
  invalid_argument: { code: Code.InvalidArgument, json: 400 },
  unauthenticated: { code: Code.Unauthenticated, json: 401 },
  permission_denied: { code: Code.PermissionDenied, json: 403 },
  rate_limited: { code: Code.ResourceExhausted, json: 429 },
  unavailable: { code: Code.Unavailable, json: 503 },
  internal: { code: Code.Internal, json: 500 },
  not_found: { code: Code.NotFound, json: "answer" },
  idempotency_conflict: { code: Code.AlreadyExists, json: "answer" },
  failed_precondition: { code: Code.FailedPrecondition, json: "answer" },
};

/** HTTP status of Connect codes that come from Connect itself (not a domain error). */
const httpStatus: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.OutOfRange]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.Unimplemented]: 501,
  [Code.Unavailable]: 503,
  [Code.DeadlineExceeded]: 504,
};

export function httpStatusOf(code: Code): number {
  return httpStatus[code] ?? 500;
}

/** The domain error behind an error, if any (handlers wrap it in a ConnectError); a database outage is one. */
export function domainErrorOf(err: unknown): PaymentError | undefined {
  if (err instanceof PaymentError) return err;
  if (err instanceof ConnectError && err.cause instanceof PaymentError) return err.cause;
  if (isDatabaseUnavailable(err)) return databaseUnavailable();
  return undefined;
}

/** The one place domain errors become Connect errors; anything unexpected becomes Internal. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const domain = domainErrorOf(err);
  if (domain) return new ConnectError(domain.message, errorAnswers[domain.code].code, undefined, undefined, domain);
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}
