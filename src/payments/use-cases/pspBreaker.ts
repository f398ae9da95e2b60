import { ConnectorUnavailableError, PspConfigurationError, type OperationOutcome, type PaymentOutcome } from "../../psp/connector.js";
import { PaymentError } from "../errors.js";
import { createCircuitBreaker, type CircuitBreaker } from "../../runtime/circuitBreaker.js";
import type { PaymentObserver } from "../observer.js";
import type { PaymentUseCaseDeps, PspCall } from "./kernel.js";

export interface PspBreakerSettings {
  /** Unreachable answers in a row (network errors, timeouts, 5xx) that open a shop's circuit. */
  failures: number;
  /** How long an open circuit sends nothing before one trial call. */
  openMs: number;
}

export interface PspBreaker {
  circuits: CircuitBreaker;
  settings: PspBreakerSettings;
  log: PaymentUseCaseDeps["log"];
}

export function createPspBreaker(settings: PspBreakerSettings | undefined, log: PaymentUseCaseDeps["log"]): PspBreaker {
  const s = settings ?? { failures: 5, openMs: 30_000 };
  return { circuits: createCircuitBreaker(s), settings: s, log };
}

const seconds = (ms: number) => Math.max(1, Math.round(ms / 1000));

/** Whether an outcome says the PSP could not be reached or failed, rather than answered. */
const unreachable = (outcome: PaymentOutcome | OperationOutcome) => outcome.kind === "unknown" && outcome.unreachable === true;

/**
 * Calls the PSP unless the shop's circuit for this connector is open. A PSP down for minutes
 * then costs no 8 s waits: a fresh call is refused at once with the reason (nothing was sent,
 * so a decline or a failed operation is honest), any other call stays unknown for
 * reconciliation. The circuit closes again on its own after a trial call succeeds.
 */
export async function callThroughBreaker<T extends PaymentOutcome | OperationOutcome>(
  call: PspCall<T>,
  breaker: PspBreaker,
  deps: Pick<PaymentUseCaseDeps, "log">,
  observer: PaymentObserver,
): Promise<T> {
  const { connector, what, meta } = call;
  const key = `${meta.shopId}\u0000${connector}`;
  const { circuits, settings } = breaker;
  if (!circuits.allow(key)) {
    const wait = seconds((circuits.retryAt(key) ?? Date.now()) - Date.now());
    const reason = `the payment provider is not reachable right now; nothing was sent to it; try again in ${wait} s or more`;
    deps.log({ level: "warn", msg: "PSP circuit open: call not sent", connector, call: what, shopId: meta.shopId, requestId: meta.requestId });
    observer.pspCall(connector, what, "not_sent", 0);
    return call.fresh && call.refused ? call.refused(reason) : ({ kind: "unknown", reason } as T);
  }
  const started = Date.now();
  const before = circuits.state(key);
  let outcome: T;
  try {
    outcome = await call.send();
    circuits.record(key, !unreachable(outcome));
  } catch (err) {
    circuits.record(key, true);
    if (err instanceof ConnectorUnavailableError)
      throw new PaymentError("unavailable", "the payment service cannot complete this right now; retry in a few seconds", err.message);
    const config = err instanceof PspConfigurationError;
    // Connectors report an unreachable PSP as an outcome; a throw is a refusal of the shop's
    // credentials (the PSP answered) or ours (a bug): not the PSP's fault (recorded above).
    deps.log({
      level: "error",
      msg: config ? "PSP refused the shop's configuration" : "PSP call failed",
      connector,
      call: what,
      shopId: meta.shopId,
      requestId: meta.requestId,
      error: config ? err.operatorMessage : err instanceof Error ? err.message : String(err),
    });
    outcome = config && call.refused ? call.refused(err.message) : ({ kind: "unknown", reason: "the payment provider call failed" } as T);
  }
  const after = circuits.state(key);
  if (after === "open" && before !== "open")
    deps.log({
      level: "error",
      msg: "PSP circuit opened: calls are not sent for a while",
      connector,
      shopId: meta.shopId,
      failures: settings.failures,
      openMs: settings.openMs,
    });
  if (after === "closed" && before !== "closed") deps.log({ level: "info", msg: "PSP circuit closed: the PSP answers again", connector, shopId: meta.shopId });
  observer.pspCall(connector, what, outcome.kind, Date.now() - started);
  return outcome;
}
