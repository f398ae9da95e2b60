import { fromJson } from "@bufbuild/protobuf";
import { GetPaymentResponseSchema, CreateCardPaymentRequestSchema } from "../../gen/genstore/payment/v1/payment_service_pb";
import { PaymentStatus } from "../../gen/genstore/payment/v1/common_pb";
import { genstoreJson, normalizeJson } from "../../src/server/gateway/jsonCoercion";

describe("normalizeJson", () => {
  test("string booleans in any case become booleans; real booleans pass", () => {
    const out = normalizeJson(CreateCardPaymentRequestSchema, { test: "TRUE", manualCapture: false });
    expect(out).toEqual({ test: true, manualCapture: false });
  });

  test("numbers are accepted for string fields and unknown fields are dropped", () => {
    const out = normalizeJson(CreateCardPaymentRequestSchema, { amount: 12.5, unknown: { a: 1 }, purchaseInfo: { items: [{ quantity: 2, extra: 1 }] } });
    expect(out).toEqual({ amount: "12.5", purchaseInfo: { items: [{ quantity: "2" }] } });
    expect(() => fromJson(CreateCardPaymentRequestSchema, out)).not.toThrow();
  });

  test("proto field names are accepted as well as JSON names", () => {
    expect(normalizeJson(CreateCardPaymentRequestSchema, { payment_id: "p1" })).toEqual({ paymentId: "p1" });
  });

  test.each([
    [{ test: "yes" }, "test must be true or false"],
    [{ test: 1 }, "test must be true or false"],
    [{ amount: { v: 1 } }, "amount must be a string"],
    [{ amount: ["1"] }, "amount must be a string"],
    [{ customer: "x" }, "customer must be a JSON object"],
    [{ purchaseInfo: { items: {} } }, "purchaseInfo.items must be an array"],
    [{ purchaseInfo: { items: [{ name: {} }] } }, "purchaseInfo.items[0].name must be a string"],
  ])("%j is refused: %s", (input, message) => {
    expect(() => normalizeJson(CreateCardPaymentRequestSchema, input)).toThrow(message);
  });

  test("null means absent", () => {
    expect(normalizeJson(CreateCardPaymentRequestSchema, { amount: null, customer: null })).toEqual({});
  });

  test("enum names are accepted with or without their prefix", () => {
    expect(normalizeJson(GetPaymentResponseSchema, { status: "SUCCESS" })).toEqual({ status: "PAYMENT_STATUS_SUCCESS" });
    expect(normalizeJson(GetPaymentResponseSchema, { status: "PAYMENT_STATUS_FAILURE" })).toEqual({ status: "PAYMENT_STATUS_FAILURE" });
    expect(() => normalizeJson(GetPaymentResponseSchema, { status: "DONE" })).toThrow(
      "status must be one of UNSPECIFIED, PROCESSING, AUTH_SUCCESS, SUCCESS, FAILURE",
    );
  });
});

test("genstoreJson writes Genstore's status spelling", () => {
  expect(genstoreJson(GetPaymentResponseSchema, { channelPaymentId: "c", status: "PAYMENT_STATUS_AUTH_SUCCESS" })).toEqual({
    channelPaymentId: "c",
    status: "AUTH_SUCCESS",
  });
  expect(PaymentStatus.AUTH_SUCCESS).toBe(2);
});
