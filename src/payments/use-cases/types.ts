import type { CardPacket } from "../../crypto/genstoreV1.js";
import type { PaymentOutcome, WebhookEvent } from "../../psp/connector.js";
import type { OperationKind, OperationRecord, PaymentRecord } from "../records.js";
import type { ShopConfig } from "../shops.js";
import type { GenstorePaymentStatus, GenstoreRefundStatus } from "../status.js";

/** Who is asking: the shop (tenancy) and the request, for the timeline. */
export interface RequestMeta {
  shopId: string;
  requestId: string;
  /** The shop, when the request gate already loaded it (background work loads it itself). */
  shop?: ShopConfig;
}

/** A postal address as Genstore sends it (every part may be empty). */
export interface OrderAddress {
  givenName: string;
  familyName: string;
  company: string;
  line1: string;
  line2: string;
  city: string;
  province: string;
  postalCode: string;
  countryCode: string;
  phoneNumber: string;
}

/** One line of Genstore's order, its values as Genstore sends them (strings). */
export interface OrderItem {
  name: string;
  description: string;
  sku: string;
  imgUrl: string;
  quantity: string;
  unitPrice: string;
}

/** The order and buyer details Genstore sends with a payment: passed to the PSP, never stored. */
export interface OrderDetails {
  email: string;
  phoneNumber: string;
  shippingAddress?: OrderAddress;
  billingAddress?: OrderAddress;
  client: { acceptLanguage: string; ipAddress: string; userAgent: string };
  items: OrderItem[];
  itemTotal: string;
  shipping: string;
  taxTotal: string;
  discount: string;
  handling: string;
  insurance: string;
  shippingDiscount: string;
  description: string;
}

/** A card payment as Genstore asks for it, in our terms (amount still Genstore's decimal string). */
export interface CardPaymentRequest {
  paymentId: string;
  amount: string;
  currency: string;
  test: boolean;
  manualCapture: boolean;
  /** The encrypted card: only the decryptor opens it. */
  packet: CardPacket;
  returnUrl?: string;
  order?: OrderDetails;
}

export interface OffsitePaymentRequest {
  paymentId: string;
  amount: string;
  currency: string;
  test: boolean;
  manualCapture: boolean;
  returnUrl: string;
  cancelUrl?: string;
  order?: OrderDetails;
}

/** A capture, void or refund: Genstore's id for it, the payment, the mode, and an amount (not for a void). */
export interface OperationRequest {
  id: string;
  paymentId: string;
  test: boolean;
  amount?: string;
}

/** Every answer carries all of its fields: empty strings until there is something to say. */
export interface CardPaymentAnswer {
  threeDsUrl: string;
  error: string;
}

export interface OffsitePaymentAnswer {
  redirectUrl: string;
  error: string;
}

export interface OperationAnswer {
  /** The PSP's id for the capture, void or refund. */
  channelId: string;
  error: string;
}

export interface PaymentStatusAnswer {
  channelPaymentId: string;
  status: GenstorePaymentStatus;
  error: string;
}

export interface RefundStatusAnswer {
  channelRefundId: string;
  status: GenstoreRefundStatus;
  error: string;
}

export type WebhookResult = "applied" | "unknown payment" | "ignored";

export interface PaymentUseCases {
  createCardPayment(meta: RequestMeta, req: CardPaymentRequest): Promise<CardPaymentAnswer>;
  createOffsitePayment(meta: RequestMeta, req: OffsitePaymentRequest): Promise<OffsitePaymentAnswer>;
  capturePayment(meta: RequestMeta, req: OperationRequest): Promise<OperationAnswer>;
  voidPayment(meta: RequestMeta, req: OperationRequest): Promise<OperationAnswer>;
  refundPayment(meta: RequestMeta, req: OperationRequest): Promise<OperationAnswer>;
  getPayment(meta: RequestMeta, paymentId: string): Promise<PaymentStatusAnswer>;
  getRefund(meta: RequestMeta, refundId: string): Promise<RefundStatusAnswer>;
  /**
   * The buyer is back from 3-D Secure or the hosted page: ask the PSP for the outcome (at most
   * once per interval) and tell where to send the buyer (Genstore's returnUrl, never fetched).
   */
  returnFromPsp(meta: RequestMeta, paymentId: string, buyerCancelled?: boolean): Promise<{ redirectTo: string }>;
  /** Asks the PSP about a payment whose outcome is open and applies the answer. */
  refreshPayment(meta: RequestMeta, paymentId: string): Promise<PaymentRecord | null>;
  /** Asks the PSP about a capture, void or refund still processing and settles it. */
  refreshOperation(meta: RequestMeta, kind: OperationKind, id: string): Promise<OperationRecord | null>;
  /** A payment still waiting for the buyer past its time: cancel it at the PSP and fail it. */
  expirePayment(meta: RequestMeta, paymentId: string): Promise<PaymentRecord | null>;
  /**
   * Applies a verified PSP webhook; a late or repeated event never moves a final state back.
   * `shopId` is set when the webhook came to a shop's own URL: it may only touch that shop.
   */
  applyWebhook(connectorName: string, event: WebhookEvent, shopId?: string): Promise<WebhookResult>;
  /** Resolves once the writes that follow answers already given are done (shutdown waits for them). */
  settled(): Promise<void>;
}

export type { PaymentOutcome };
