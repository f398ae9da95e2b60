import { createHash, randomBytes } from "node:crypto";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import type {
  CapturePaymentRequest,
  CapturePaymentResponseSchema,
  CreateCardPaymentRequest,
  CreateCardPaymentResponseSchema,
  CreateOffsitePaymentRequest,
  CreateOffsitePaymentResponseSchema,
  GetPaymentRequest,
  GetPaymentResponseSchema,
  GetRefundRequest,
  GetRefundResponseSchema,
  RefundPaymentRequest,
  RefundPaymentResponseSchema,
  VoidPaymentRequest,
  VoidPaymentResponseSchema,
} from "../../gen/genstore/payment/v1/payment_service_pb.js";
import type { CardDecryptor } from "../crypto/cardDecryptor.js";
import { summarizeCard } from "../crypto/cardData.js";
import { CardDecryptionError } from "../crypto/genstoreV1.js";
import { PaymentError, invalidArgument, notFound } from "./errors.js";
import { parseAmount } from "./money.js";
import type { OperationKind, OperationRecord, PaymentRecord, PaymentRepository } from "./records.js";
import { genstorePaymentStatus, genstoreRefundStatus } from "./status.js";

type Answer<S extends DescMessage> = MessageInitShape<S>;

export interface PaymentUseCaseDeps {
  repository: PaymentRepository;
  cards: CardDecryptor;
  /** Base URL of this service, for the hosted pages we send buyers to. */
  publicUrl: () => string;
  now?: () => Date;
}

export interface PaymentUseCases {
  createCardPayment(shopId: string, req: CreateCardPaymentRequest): Promise<Answer<typeof CreateCardPaymentResponseSchema>>;
  createOffsitePayment(shopId: string, req: CreateOffsitePaymentRequest): Promise<Answer<typeof CreateOffsitePaymentResponseSchema>>;
  capturePayment(shopId: string, req: CapturePaymentRequest): Promise<Answer<typeof CapturePaymentResponseSchema>>;
  voidPayment(shopId: string, req: VoidPaymentRequest): Promise<Answer<typeof VoidPaymentResponseSchema>>;
  refundPayment(shopId: string, req: RefundPaymentRequest): Promise<Answer<typeof RefundPaymentResponseSchema>>;
  getPayment(shopId: string, req: GetPaymentRequest): Promise<Answer<typeof GetPaymentResponseSchema>>;
  getRefund(shopId: string, req: GetRefundRequest): Promise<Answer<typeof GetRefundResponseSchema>>;
}

/** Hash of what defines an operation: the same id with another hash is a conflicting reuse. */
function requestHash(parts: Record<string, unknown>): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url");
}

function conflict(kind: string, id: string): PaymentError {
  return new PaymentError(
    "idempotency_conflict",
    `${kind} ${id} was already received with different parameters; use a new ${kind} for a new attempt`,
  );
}

function paymentAnswerError(p: PaymentRecord): string {
  return p.state === "declined" || p.state === "failed" ? (p.error ?? "payment failed") : "";
}

export function createPaymentUseCases(deps: PaymentUseCaseDeps): PaymentUseCases {
  const { repository, cards } = deps;
  const now = deps.now ?? (() => new Date());

  /** Claims the payment id; a retry gets the stored payment, a conflicting reuse a 409. */
  async function claimPayment(record: PaymentRecord): Promise<PaymentRecord> {
    const claimed = await repository.claimPayment(record);
    if (!claimed.inserted && (claimed.record.shopId !== record.shopId || claimed.record.requestHash !== record.requestHash)) {
      throw conflict("paymentId", record._id);
    }
    return claimed.record;
  }

  async function requirePayment(shopId: string, paymentId: string): Promise<PaymentRecord> {
    const payment = await repository.findPayment(shopId, paymentId);
    if (!payment) throw notFound(`payment ${paymentId} not found`);
    return payment;
  }

  async function claimOperation(
    kind: OperationKind,
    idName: string,
    shopId: string,
    id: string,
    payment: PaymentRecord,
    test: boolean,
    amountValue?: string,
  ): Promise<OperationRecord> {
    const amount = amountValue === undefined ? undefined : parseAmount(amountValue, payment.amount.currency);
    const at = now();
    const record: OperationRecord = {
      _id: id,
      shopId,
      kind,
      paymentId: payment._id,
      test,
      state: "processing",
      requestHash: requestHash({ kind, paymentId: payment._id, amount: amount?.minor, test }),
      channelId: `${kind.slice(0, 3)}_${randomBytes(12).toString("hex")}`,
      createdAt: at,
      updatedAt: at,
      ...(amount ? { amount } : {}),
    };
    const claimed = await repository.claimOperation(record);
    if (!claimed.inserted && (claimed.record.shopId !== shopId || claimed.record.requestHash !== record.requestHash)) {
      throw conflict(idName, id);
    }
    return claimed.record;
  }

  return {
    async createCardPayment(shopId, req) {
      const amount = parseAmount(req.amount, req.currency);
      const data = req.paymentMethod?.data;
      if (!data) throw invalidArgument("paymentMethod.data is required");
      let summary;
      try {
        summary = summarizeCard(cards.decrypt(data));
      } catch (err) {
        if (err instanceof CardDecryptionError) throw invalidArgument(err.message);
        throw err;
      }
      const at = now();
      const payment = await claimPayment({
        _id: req.paymentId,
        shopId,
        method: "card",
        amount,
        test: req.test ?? false,
        manualCapture: req.manualCapture ?? false,
        state: "received",
        requestHash: requestHash({
          method: "card",
          amount: amount.minor,
          currency: amount.currency,
          test: req.test,
          manualCapture: req.manualCapture,
          card: [summary.brand, summary.last4, summary.expiryMonth, summary.expiryYear],
        }),
        channelPaymentId: "",
        card: summary,
        ...(data.returnUrl ? { returnUrl: data.returnUrl } : {}),
        createdAt: at,
        updatedAt: at,
      });
      return {
        threeDsUrl: payment.state === "requires_action" ? (payment.actionUrl ?? "") : "",
        error: paymentAnswerError(payment),
      };
    },

    async createOffsitePayment(shopId, req) {
      const amount = parseAmount(req.amount, req.currency);
      const data = req.paymentMethod?.data;
      if (!data) throw invalidArgument("paymentMethod.data is required");
      const at = now();
      const payment = await claimPayment({
        _id: req.paymentId,
        shopId,
        method: "offsite",
        amount,
        test: req.test ?? false,
        manualCapture: req.manualCapture ?? false,
        state: "requires_action",
        requestHash: requestHash({
          method: "offsite",
          amount: amount.minor,
          currency: amount.currency,
          test: req.test,
          manualCapture: req.manualCapture,
        }),
        channelPaymentId: "",
        actionUrl: `${deps.publicUrl()}/sandbox/checkout/${encodeURIComponent(req.paymentId)}`,
        returnUrl: data.returnUrl,
        ...(data.cancelUrl ? { cancelUrl: data.cancelUrl } : {}),
        createdAt: at,
        updatedAt: at,
      });
      return { redirectUrl: payment.actionUrl ?? "", error: paymentAnswerError(payment) };
    },

    async capturePayment(shopId, req) {
      const payment = await requirePayment(shopId, req.paymentId);
      const op = await claimOperation("capture", "captureId", shopId, req.captureId, payment, req.test ?? false, req.amount);
      return { channelCaptureId: op.channelId, error: op.error ?? "" };
    },

    async voidPayment(shopId, req) {
      const payment = await requirePayment(shopId, req.paymentId);
      const op = await claimOperation("void", "voidId", shopId, req.voidId, payment, req.test ?? false);
      return { channelVoidId: op.channelId, error: op.error ?? "" };
    },

    async refundPayment(shopId, req) {
      const payment = await requirePayment(shopId, req.paymentId);
      const op = await claimOperation("refund", "refundId", shopId, req.refundId, payment, req.test ?? false, req.amount);
      return { channelRefundId: op.channelId, error: op.error ?? "" };
    },

    async getPayment(shopId, req) {
      const payment = await requirePayment(shopId, req.paymentId);
      return {
        channelPaymentId: payment.channelPaymentId,
        status: genstorePaymentStatus(payment.state),
        error: paymentAnswerError(payment),
      };
    },

    async getRefund(shopId, req) {
      const refund = await repository.findOperation("refund", shopId, req.refundId);
      if (!refund) throw notFound(`refund ${req.refundId} not found`);
      return { channelRefundId: refund.channelId, status: genstoreRefundStatus(refund.state), error: refund.error ?? "" };
    },
  };
}
