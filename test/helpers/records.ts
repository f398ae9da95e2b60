import { paymentCallback } from "../../src/payments/callbackBody";
import type { PaymentRecord } from "../../src/payments/records";
import type { ShopConfig } from "../../src/payments/shops";

/**
 * A captured card payment as the repository stores it, for tests below the use cases; with
 * `withCallback`, its result for Genstore waits in the outbox.
 */
export function capturedPayment(
  id: string,
  at: Date,
  opts: { shopId?: string; minor?: number; withCallback?: boolean; idempotencyKey?: string } = {},
): PaymentRecord {
  const minor = opts.minor ?? 100;
  const p: PaymentRecord = {
    _id: id,
    shopId: opts.shopId ?? "s1",
    method: "card",
    amount: { minor, value: (minor / 100).toFixed(2), currency: "USD" },
    test: true,
    manualCapture: false,
    captureAtOnce: true,
    state: "captured",
    requestHash: "h",
    psp: "sandbox",
    idempotencyKey: opts.idempotencyKey ?? `k-${id}`,
    channelPaymentId: "ch_1",
    authorizedMinor: minor,
    capturedMinor: minor,
    refundableMinor: minor,
    refundReservedMinor: 0,
    refundedMinor: 0,
    activeOperation: null,
    refundsInFlight: [],
    timeline: [],
    callbacks: [],
    nextCallbackAt: opts.withCallback ? at : null,
    createdAt: at,
    updatedAt: at,
  };
  if (opts.withCallback) p.callbacks = [paymentCallback(p, "payment", true, undefined, at)];
  return p;
}

/** A shop whose callbacks go to `callbackBaseUrl` (a fake Genstore). */
export function callbackShop(callbackBaseUrl: string, at: Date, shopId = "s1"): ShopConfig {
  return {
    shopId,
    psp: "sandbox",
    testCredentials: {},
    liveCredentials: {},
    genstoreAccessToken: "t",
    callbackBaseUrl,
    manualCaptureMeansAuthorizeOnly: true,
    createdAt: at,
    updatedAt: at,
  };
}
