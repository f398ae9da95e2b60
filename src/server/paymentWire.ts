import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { PaymentStatus, RefundStatus } from "../../gen/genstore/payment/v1/common_pb.js";
import type {
  CapturePaymentRequest,
  CapturePaymentResponseSchema,
  CreateCardPaymentRequest,
  CreateOffsitePaymentRequest,
  GetPaymentResponseSchema,
  GetRefundResponseSchema,
  RefundPaymentRequest,
  RefundPaymentResponseSchema,
  VoidPaymentRequest,
  VoidPaymentResponseSchema,
} from "../../gen/genstore/payment/v1/payment_service_pb.js";
import { invalidArgument } from "../payments/errors.js";
import type {
  CardPaymentRequest,
  OffsitePaymentRequest,
  OperationAnswer,
  OperationRequest,
  PaymentStatusAnswer,
  RefundStatusAnswer,
} from "../payments/use-cases/index.js";

// The contract's messages and the domain's requests and answers, mapped in one place: the use
// cases never see protobuf, the wire never sees a record.

export function cardPaymentRequest(req: CreateCardPaymentRequest): CardPaymentRequest {
  const data = req.paymentMethod?.data;
  if (!data) throw invalidArgument("paymentMethod.data is required");
  return {
    paymentId: req.paymentId,
    amount: req.amount,
    currency: req.currency,
    test: req.test ?? false,
    manualCapture: req.manualCapture ?? false,
    packet: { cipherText: data.cipherText, salt: data.salt, ephemeralPublicKey: data.ephemeralPublicKey, suit: data.suit, iv: data.iv },
    ...(data.returnUrl ? { returnUrl: data.returnUrl } : {}),
  };
}

export function offsitePaymentRequest(req: CreateOffsitePaymentRequest): OffsitePaymentRequest {
  const data = req.paymentMethod?.data;
  if (!data) throw invalidArgument("paymentMethod.data is required");
  return {
    paymentId: req.paymentId,
    amount: req.amount,
    currency: req.currency,
    test: req.test ?? false,
    manualCapture: req.manualCapture ?? false,
    returnUrl: data.returnUrl,
    ...(data.cancelUrl ? { cancelUrl: data.cancelUrl } : {}),
  };
}

export const captureRequest = (req: CapturePaymentRequest): OperationRequest => ({
  id: req.captureId,
  paymentId: req.paymentId,
  test: req.test ?? false,
  amount: req.amount,
});
export const voidRequest = (req: VoidPaymentRequest): OperationRequest => ({ id: req.voidId, paymentId: req.paymentId, test: req.test ?? false });
export const refundRequest = (req: RefundPaymentRequest): OperationRequest => ({
  id: req.refundId,
  paymentId: req.paymentId,
  test: req.test ?? false,
  amount: req.amount,
});

type Init<S extends DescMessage> = MessageInitShape<S>;

export const captureResponse = (a: OperationAnswer): Init<typeof CapturePaymentResponseSchema> => ({ channelCaptureId: a.channelId, error: a.error });
export const voidResponse = (a: OperationAnswer): Init<typeof VoidPaymentResponseSchema> => ({ channelVoidId: a.channelId, error: a.error });
export const refundResponse = (a: OperationAnswer): Init<typeof RefundPaymentResponseSchema> => ({ channelRefundId: a.channelId, error: a.error });
export const getPaymentResponse = (a: PaymentStatusAnswer): Init<typeof GetPaymentResponseSchema> => ({
  channelPaymentId: a.channelPaymentId,
  status: PaymentStatus[a.status],
  error: a.error,
});
export const getRefundResponse = (a: RefundStatusAnswer): Init<typeof GetRefundResponseSchema> => ({
  channelRefundId: a.channelRefundId,
  status: RefundStatus[a.status],
  error: a.error,
});
