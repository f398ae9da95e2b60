import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { CallbackObserver, PaymentObserver } from "../payments/observer.js";

export interface Metrics extends PaymentObserver, CallbackObserver {
  registry: Registry;
  request(route: string, method: string, status: number, seconds: number): void;
}

/** Prometheus metrics (/metrics): requests, PSP calls, payments, callbacks, decrypt failures. */
export function createMetrics(pendingCallbacks: () => Promise<number>, parkedCallbacks: () => Promise<number>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "http_requests_total",
    help: "Requests by route and status",
    labelNames: ["route", "method", "status"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "http_request_duration_seconds",
    help: "Request latency by route",
    labelNames: ["route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const psp = new Counter({
    name: "psp_calls_total",
    help: "PSP calls by connector, call and outcome",
    labelNames: ["connector", "call", "outcome"],
    registers: [registry],
  });
  const pspLatency = new Histogram({
    name: "psp_call_duration_seconds",
    help: "PSP call latency",
    labelNames: ["connector", "call"],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const payments = new Counter({
    name: "payments_final_total",
    help: "Payments reaching a final state, by state",
    labelNames: ["state"],
    registers: [registry],
  });
  const decrypt = new Counter({ name: "card_decrypt_failures_total", help: "Card packets that could not be decrypted", registers: [registry] });
  const attempts = new Counter({
    name: "callback_attempts_total",
    help: "Callback delivery attempts by result",
    labelNames: ["result"],
    registers: [registry],
  });
  const delivered = new Counter({ name: "callbacks_delivered_total", help: "Callbacks acknowledged by Genstore", labelNames: ["kind"], registers: [registry] });
  const parked = new Counter({ name: "callbacks_parked_total", help: "Callbacks parked for an operator", labelNames: ["kind"], registers: [registry] });
  const lag = new Histogram({
    name: "callback_delivery_lag_seconds",
    help: "From a result to Genstore's acknowledgement",
    buckets: [0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86400],
    registers: [registry],
  });
  callbackGauges(registry, pendingCallbacks, parkedCallbacks);
  return {
    registry,
    request(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      latency.observe({ route }, seconds);
    },
    pspCall(connector, call, outcome, ms) {
      psp.inc({ connector, call, outcome });
      pspLatency.observe({ connector, call }, ms / 1000);
    },
    paymentFinal: (state) => payments.inc({ state }),
    decryptFailed: () => decrypt.inc(),
    attempt: (result) => attempts.inc({ result }),
    delivered(kind, lagMs) {
      delivered.inc({ kind });
      lag.observe(lagMs / 1000);
    },
    parked: (kind) => parked.inc({ kind }),
  };
}

/** Gauges read at each scrape: payments with callbacks pending, and with callbacks parked. */
function callbackGauges(registry: Registry, pendingCallbacks: () => Promise<number>, parkedCallbacks: () => Promise<number>): void {
  new Gauge({
    name: "callbacks_pending",
    help: "Payments with callbacks not yet delivered",
    registers: [registry],
    async collect() {
      this.set(await pendingCallbacks().catch(() => -1));
    },
  });
  new Gauge({
    name: "callbacks_parked",
    help: "Payments with parked callbacks",
    registers: [registry],
    async collect() {
      this.set(await parkedCallbacks().catch(() => -1));
    },
  });
}

/** Payments whose delivered callbacks are in the delivery journal, not yet folded into their documents. */
export function deliveryJournalGauge(registry: Registry, unfolded: () => number): void {
  new Gauge({
    name: "callback_delivery_journal_payments",
    help: "Payments whose delivered callbacks wait in the delivery journal to be folded into the payment",
    registers: [registry],
    collect() {
      this.set(unfolded());
    },
  });
}
