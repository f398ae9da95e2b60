import type { ShopConfig } from "../../src/payments/shops";
import type { Connector, OperationOutcome, PaymentOutcome } from "../../src/psp/connector";

/**
 * A connector whose answers a test decides, recording every call: the unit tests' PSP. The money
 * rules under test are ours; what a real PSP answers is proven against the sandbox and stripe-mock.
 */
export function createScriptedConnector() {
  const calls: { call: string; idempotencyKey: string; minor?: number }[] = [];
  const answers: { payment: PaymentOutcome; operation: OperationOutcome; status: PaymentOutcome } = {
    payment: { kind: "authorized", reference: "ch_1" },
    operation: { kind: "succeeded", reference: "op_1" },
    status: { kind: "absent", reason: "no such payment" },
  };
  const connector: Connector = {
    name: "scripted",
    capabilities: { card: true, offsite: true, manualCapture: true, partialCapture: true, multipleRefunds: true, webhooks: false, movesMoney: true },
    async payWithCard(_ctx, input) {
      calls.push({ call: "card", idempotencyKey: input.idempotencyKey, minor: input.amount.minor });
      return answers.payment;
    },
    async payOffsite(_ctx, input) {
      calls.push({ call: "offsite", idempotencyKey: input.idempotencyKey, minor: input.amount.minor });
      return answers.payment;
    },
    async capture(_ctx, input) {
      calls.push({ call: "capture", idempotencyKey: input.idempotencyKey, minor: input.amount.minor });
      return answers.operation;
    },
    async void(_ctx, input) {
      calls.push({ call: "void", idempotencyKey: input.idempotencyKey });
      return answers.operation;
    },
    async refund(_ctx, input) {
      calls.push({ call: "refund", idempotencyKey: input.idempotencyKey, minor: input.amount.minor });
      return answers.operation;
    },
    async paymentStatus(_ctx, input) {
      calls.push({ call: "payment status", idempotencyKey: input.idempotencyKey });
      return answers.status;
    },
    async operationStatus(_ctx, input) {
      calls.push({ call: "operation status", idempotencyKey: input.idempotencyKey });
      return answers.operation;
    },
  };
  return { connector, calls, answers };
}

const at = new Date("2026-03-01T00:00:00Z");

/** The unit tests' shop: its PSP is the scripted connector, manualCapture means authorize only. */
export const scriptedShop: ShopConfig = {
  shopId: "s",
  psp: "scripted",
  testCredentials: {},
  liveCredentials: {},
  genstoreAccessToken: "t",
  callbackBaseUrl: "https://s.example",
  manualCaptureMeansAuthorizeOnly: true,
  createdAt: at,
  updatedAt: at,
};

/** A request of that shop, as the edge hands it to the use cases. */
export const scriptedMeta = { shopId: "s", requestId: "r", shop: scriptedShop };
