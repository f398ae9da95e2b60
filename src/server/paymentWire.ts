import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { PaymentStatus, RefundStatus, type Address, type ClientDetails, type Customer, type PurchaseInfo } from "../../gen/genstore/payment/v1/common_pb.js";
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
  OrderAddress,
  OrderDetails,
  PaymentStatusAnswer,
  RefundStatusAnswer,
} from "../payments/use-cases/index.js";

// The contract's messages and the domain's requests and answers, mapped in one place: the use
// cases never see protobuf, the wire never sees a record.

function orderAddress(a: Address | undefined): OrderAddress | undefined {
  if (!a) return undefined;
  const { givenName, familyName, company, line1, line2, city, province, postalCode, countryCode, phoneNumber } = a;
  return { givenName, familyName, company, line1, line2, city, province, postalCode, countryCode, phoneNumber };
}

/** The order and buyer details, for the PSP (never stored). */
function orderDetails(customer: Customer | undefined, client: ClientDetails | undefined, purchase: PurchaseInfo | undefined): OrderDetails {
  const shippingAddress = orderAddress(customer?.shippingAddress);
  const billingAddress = orderAddress(customer?.billingAddress);
  return {
    email: customer?.email ?? "",
    phoneNumber: customer?.phoneNumber ?? "",
    ...(shippingAddress ? { shippingAddress } : {}),
    ...(billingAddress ? { billingAddress } : {}),
    client: { acceptLanguage: client?.acceptLanguage ?? "", ipAddress: client?.ipAddress ?? "", userAgent: client?.userAgent ?? "" },
    items: (purchase?.items ?? []).map((i) => ({
      name: i.name,
      description: i.description,
      sku: i.sku,
      imgUrl: i.imgUrl,
      quantity: i.quantity,
      unitPrice: i.unitPrice,
    })),
    itemTotal: purchase?.itemTotal ?? "",
    shipping: purchase?.shipping ?? "",
    taxTotal: purchase?.taxTotal ?? "",
    discount: purchase?.discount ?? "",
    handling: purchase?.handling ?? "",
    insurance: purchase?.insurance ?? "",
    shippingDiscount: purchase?.shippingDiscount ?? "",
    description: purchase?.description ?? "",
  };
}

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
    order: orderDetails(req.customer, req.clientDetails, req.purchaseInfo),
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
    order: orderDetails(req.customer, req.clientDetails, req.purchaseInfo),
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
