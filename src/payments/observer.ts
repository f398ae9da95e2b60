/** What the domain reports for metrics; src/server/metrics.ts implements it with prom-client. */
export interface PaymentObserver {
  pspCall(connector: string, call: string, outcome: string, ms: number): void;
  paymentFinal(state: string): void;
  decryptFailed(): void;
}

export interface CallbackObserver {
  attempt(result: "delivered" | "retry" | "refused"): void;
  delivered(kind: string, lagMs: number): void;
  parked(kind: string): void;
}

export const noObserver: PaymentObserver & CallbackObserver = {
  pspCall: () => {},
  paymentFinal: () => {},
  decryptFailed: () => {},
  attempt: () => {},
  delivered: () => {},
  parked: () => {},
};
