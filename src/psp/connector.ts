import type { CardDetails } from "../crypto/cardData.js";

/** Money as a connector takes it: integer minor units plus the ISO 4217 code. */
export interface PspAmount {
  minor: number;
  currency: string;
}

/** Per-call settings: the shop's credentials for the request's mode. */
export interface PspContext {
  mode: "test" | "live";
  credentials: Readonly<Record<string, string>>;
  shopId: string;
}

/**
 * The result of a payment call, tagged. `unreachable` on an unknown outcome: the PSP could not be
 * reached or failed (network, timeout, 5xx), which counts toward the shop's circuit breaker. A network error or timeout is `unknown`, never a
 * decline; a PSP status we do not recognise is `pending`. Only a status query answers `absent`:
 * the PSP has no trace of a payment sent with this key (so none was or will be charged).
 */
export type PaymentOutcome =
  | { kind: "approved"; reference: string }
  | { kind: "authorized"; reference: string }
  | { kind: "requires_action"; reference: string; url: string }
  | { kind: "pending"; reference: string }
  | { kind: "declined"; reference?: string; reason: string }
  | { kind: "unknown"; reference?: string; reason: string; unreachable?: boolean }
  | { kind: "absent"; reason: string };

/** The result of a capture, void or refund. */
export type OperationOutcome =
  | { kind: "succeeded"; reference: string }
  | { kind: "pending"; reference: string }
  | { kind: "failed"; reference?: string; reason: string }
  | { kind: "unknown"; reference?: string; reason: string; unreachable?: boolean };

/**
 * The connector cannot work right now for a reason of ours, not the PSP's (the sandbox's books are
 * in our database, and it is down). The request is answered "retry" and nothing is recorded; a
 * retry with the same idempotency key is safe (it finds what a half-done call left).
 */
export class ConnectorUnavailableError extends Error {
  override name = "ConnectorUnavailableError";
}

export interface ConnectorCapabilities {
  card: boolean;
  offsite: boolean;
  manualCapture: boolean;
  partialCapture: boolean;
  multipleRefunds: boolean;
  webhooks: boolean;
  /** false for a PSP that only pretends (the sandbox): production sends it no live payment. */
  movesMoney: boolean;
}

/** A postal address as a PSP takes it; every part may be missing. */
export interface PspAddress {
  name?: string;
  company?: string;
  line1?: string;
  line2?: string;
  city?: string;
  /** State or province. */
  region?: string;
  postalCode?: string;
  /** ISO 3166-1 alpha-2. */
  country?: string;
  phone?: string;
}

/** One line of the order, its price in minor units of the payment's currency. */
export interface PspOrderItem {
  name: string;
  description?: string;
  sku?: string;
  imageUrl?: string;
  quantity: number;
  unitMinor: number;
}

/**
 * What Genstore sent about the order and the buyer, for the PSP's risk checks, receipts and
 * hosted pages. Passed through to the PSP, never stored by us.
 */
export interface PspOrder {
  email?: string;
  phone?: string;
  billing?: PspAddress;
  shipping?: PspAddress;
  client?: { ipAddress?: string; userAgent?: string; acceptLanguage?: string };
  items: PspOrderItem[];
  /** The order's amounts beside its items, in minor units (0 when not sent). */
  shippingMinor: number;
  taxMinor: number;
  handlingMinor: number;
  insuranceMinor: number;
  discountMinor: number;
  shippingDiscountMinor: number;
  description?: string;
  /** Where the PSP sends its receipt, when the shop asked for receipts. */
  receiptEmail?: string;
}

export interface CardPaymentInput {
  idempotencyKey: string;
  amount: PspAmount;
  /** false: authorize only, capture later. */
  capture: boolean;
  card: CardDetails;
  /** Where the PSP sends the buyer back after 3-D Secure (our return endpoint). */
  returnUrl: string;
  description: string;
  order?: PspOrder;
}

export interface OffsitePaymentInput {
  idempotencyKey: string;
  amount: PspAmount;
  capture: boolean;
  returnUrl: string;
  /** Where the PSP's page sends a buyer who cancels (our return endpoint, marked cancelled). */
  cancelUrl: string;
  description: string;
  order?: PspOrder;
}

/** A PSP's notification about a payment or an operation, after its signature was checked. */
export interface WebhookEvent {
  /** The PSP's event id: the same event delivered twice is applied once. */
  id: string;
  target: "payment" | "operation";
  /** The idempotency key we sent when creating the payment or operation. */
  idempotencyKey: string;
  outcome: PaymentOutcome | OperationOutcome;
  /** Which of the shop's modes the event belongs to, when the PSP says. */
  mode?: "test" | "live";
}

export class WebhookSignatureError extends Error {
  override name = "WebhookSignatureError";
}

/**
 * The PSP refused the shop's credentials (wrong, revoked, or for the other mode). Nothing
 * happened at the PSP; the operator must fix the shop. `message` is safe to show anyone,
 * `operatorMessage` says what to fix and goes to the log only.
 */
export class PspConfigurationError extends Error {
  override name = "PspConfigurationError";
  constructor(
    message: string,
    readonly operatorMessage: string,
  ) {
    super(message);
  }
}

/** What a connector needs to check a webhook sent to a shop's own URL. */
export interface WebhookShop {
  shopId: string;
  testCredentials: Readonly<Record<string, string>>;
  liveCredentials: Readonly<Record<string, string>>;
}

export interface PaymentStatusQuery {
  idempotencyKey: string;
  reference?: string;
  /** When the payment was first sent: a PSP whose lookups lag may not know it yet. */
  createdAt: Date;
}

export interface OperationStatusQuery {
  kind: "capture" | "void" | "refund";
  idempotencyKey: string;
  reference?: string;
  /** The payment's reference at the PSP, which the operation acted on. */
  paymentReference: string;
}

/** What every PSP connector implements (docs/architecture.md). Connectors see no domain internals. */
export interface Connector {
  readonly name: string;
  readonly capabilities: ConnectorCapabilities;
  payWithCard(ctx: PspContext, input: CardPaymentInput): Promise<PaymentOutcome>;
  payOffsite(ctx: PspContext, input: OffsitePaymentInput): Promise<PaymentOutcome>;
  capture(ctx: PspContext, input: { idempotencyKey: string; reference: string; amount: PspAmount }): Promise<OperationOutcome>;
  void(ctx: PspContext, input: { idempotencyKey: string; reference: string }): Promise<OperationOutcome>;
  refund(ctx: PspContext, input: { idempotencyKey: string; reference: string; amount: PspAmount }): Promise<OperationOutcome>;
  /**
   * Status of a payment, by the idempotency key it was created with and, once the PSP named it,
   * its reference (some PSPs, Stripe among them, cannot look anything up by idempotency key).
   */
  paymentStatus(ctx: PspContext, input: PaymentStatusQuery): Promise<PaymentOutcome>;
  /** Status of a capture, void or refund, by its idempotency key and, when known, its reference. */
  operationStatus(ctx: PspContext, input: OperationStatusQuery): Promise<OperationOutcome>;
  /**
   * Checks a webhook's signature and reads it; throws WebhookSignatureError when it is not
   * genuine, returns null for a genuine event that concerns no payment of ours. `shop` is set
   * when the PSP posts to the shop's own URL (PSPs that sign with a secret per account).
   */
  parseWebhook?(rawBody: Buffer, headers: Headers, shop?: WebhookShop): WebhookEvent | null;
}
