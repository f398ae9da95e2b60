import { createHash } from "node:crypto";
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
import type { CardDetails } from "../crypto/cardData.js";
import { CardDecryptionError } from "../crypto/genstoreV1.js";
import { PspConfigurationError, type Connector, type OperationOutcome, type PaymentOutcome, type PspContext, type WebhookEvent } from "../psp/connector.js";
import type { ConnectorRegistry } from "../psp/registry.js";
import { withinBudget } from "../runtime/budget.js";
import { PaymentError, failedPrecondition, invalidArgument, notFound } from "./errors.js";
import { pspIdempotencyKey } from "./idempotencyKeys.js";
import { createKeyedMutex, type KeyedMutex } from "../runtime/keyedMutex.js";
import { formatMinor, parseAmount, type Money } from "./money.js";
import type { OperationKind, OperationRecord, PaymentRecord, PaymentRepository } from "./records.js";
import type { ShopConfig, ShopDirectory } from "./shops.js";
import { noObserver, type PaymentObserver } from "./observer.js";
import { createOutcomeRecorder } from "./outcomes.js";
import { openStates } from "./stateMachine.js";
import { checkedRedirect } from "./redirects.js";
import { genstorePaymentStatus, genstoreRefundStatus } from "./status.js";
import { createThrottle } from "../runtime/throttle.js";

type Answer<S extends DescMessage> = MessageInitShape<S>;

/** Who is asking: the shop (tenancy) and the request, for the timeline. */
export interface RequestMeta {
  shopId: string;
  requestId: string;
  /** The shop, when the request gate already loaded it (background work loads it itself). */
  shop?: ShopConfig;
}

export interface PaymentUseCaseDeps {
  repository: PaymentRepository;
  shops: ShopDirectory;
  connectors: ConnectorRegistry;
  cards: CardDecryptor;
  /** Base URL of this service, for the return endpoint the PSP sends buyers back to. */
  publicUrl: () => string;
  /** The signed link to our return endpoint for one payment (see server/auth/returnLinks.ts). */
  returnLink: (shopId: string, paymentId: string, cancelled?: boolean) => string;
  /** Production: live payments need a PSP that moves money; redirects need https. */
  production?: boolean;
  /** The PSP is asked about a payment at most once per this interval from the return endpoint. */
  returnRefreshMs?: number;
  /** How long a request waits for the PSP before answering PROCESSING (design §2.3). */
  pspTimeoutMs: number;
  log: (entry: Record<string, unknown>) => void;
  now?: () => Date;
  mutex?: KeyedMutex;
  observer?: PaymentObserver;
  /** Told when a result for Genstore was queued (the callback dispatcher's notify). */
  onCallbackQueued?: (shopId: string, paymentId: string, snapshot: PaymentRecord) => void;
}

export interface PaymentUseCases {
  createCardPayment(meta: RequestMeta, req: CreateCardPaymentRequest): Promise<Answer<typeof CreateCardPaymentResponseSchema>>;
  createOffsitePayment(meta: RequestMeta, req: CreateOffsitePaymentRequest): Promise<Answer<typeof CreateOffsitePaymentResponseSchema>>;
  capturePayment(meta: RequestMeta, req: CapturePaymentRequest): Promise<Answer<typeof CapturePaymentResponseSchema>>;
  voidPayment(meta: RequestMeta, req: VoidPaymentRequest): Promise<Answer<typeof VoidPaymentResponseSchema>>;
  refundPayment(meta: RequestMeta, req: RefundPaymentRequest): Promise<Answer<typeof RefundPaymentResponseSchema>>;
  getPayment(meta: RequestMeta, req: GetPaymentRequest): Promise<Answer<typeof GetPaymentResponseSchema>>;
  getRefund(meta: RequestMeta, req: GetRefundRequest): Promise<Answer<typeof GetRefundResponseSchema>>;
  /**
   * The buyer is back from 3-D Secure or the hosted page: record it, ask the PSP for the
   * outcome, and tell where to send the buyer (Genstore's returnUrl, never fetched).
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
  applyWebhook(connectorName: string, event: WebhookEvent, shopId?: string): Promise<"applied" | "unknown payment" | "ignored">;
}

/** The per-payment lock shared by the use cases and the callback dispatcher. */
export const paymentLockKey = (shopId: string, paymentId: string) => `${shopId}\u0000${paymentId}`;

/** What a payment status query sends: the key always, the PSP's reference once it gave one. */
const paymentQuery = (p: PaymentRecord) => ({ idempotencyKey: p.idempotencyKey, createdAt: new Date(p.createdAt), ...(p.channelPaymentId ? { reference: p.channelPaymentId } : {}) });

const operationQuery = (op: OperationRecord, p: PaymentRecord) => ({
  kind: op.kind,
  idempotencyKey: op.idempotencyKey,
  paymentReference: p.channelPaymentId,
  ...(op.channelId ? { reference: op.channelId } : {}),
});

/** A test-mode event never moves a live payment, nor the reverse. */
const otherMode = (event: WebhookEvent, p: PaymentRecord) => event.mode !== undefined && event.mode !== (p.test ? "test" : "live");

/** Hash of what defines an operation: the same id with another hash is a conflicting reuse. */
function requestHash(parts: Record<string, unknown>): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url");
}

function conflict(idName: string, id: string): PaymentError {
  return new PaymentError("idempotency_conflict", `${idName} ${id} was already received with different parameters; use a new ${idName} for a new attempt`);
}

function paymentError(p: PaymentRecord): string {
  return p.state === "declined" || p.state === "failed" ? (p.error ?? "payment failed") : "";
}

export function createPaymentUseCases(deps: PaymentUseCaseDeps): PaymentUseCases {
  const { repository, cards } = deps;
  const now = deps.now ?? (() => new Date());
  const mutex = deps.mutex ?? createKeyedMutex();
  const observer = deps.observer ?? noObserver;
  const recorder = createOutcomeRecorder(repository, deps.log, now, deps.onCallbackQueued, observer);
  const applyPaymentOutcome = recorder.applyPaymentOutcome;
  const lockKey = paymentLockKey;
  const production = deps.production ?? false;

  function pspContext(shop: ShopConfig, test: boolean): PspContext {
    return { mode: test ? "test" : "live", credentials: test ? shop.testCredentials : shop.liveCredentials, shopId: shop.shopId };
  }

  const shopOf = (meta: RequestMeta) => meta.shop ?? deps.shops.get(meta.shopId);
  // Buyers (and anyone holding a return link) may hit it at any rate; the PSP hears of it rarely.
  const returnThrottle = createThrottle<PaymentRecord | null>({ intervalMs: deps.returnRefreshMs ?? 5000, maxKeys: 10_000 });

  /** Payments in live mode need a PSP that moves money: the sandbox never reports a live success. */
  function refuseLiveOnSandbox(test: boolean, connector: Connector): void {
    if (!test && deps.production && !connector.capabilities.movesMoney) {
      throw failedPrecondition(`this shop's PSP ${connector.name} moves no money and takes test payments only; live payments need a real PSP`);
    }
  }

  /**
   * Calls the PSP; a throw is an unknown outcome, never a decline. A refusal of the shop's
   * credentials means nothing happened: `refused` says what that makes of the call (a decline
   * or a failed operation); status queries leave it unknown.
   */
  async function callPsp<T extends PaymentOutcome | OperationOutcome>(connector: string, what: string, meta: RequestMeta, call: () => Promise<T>, refused?: (reason: string) => T): Promise<T> {
    const started = Date.now();
    let outcome: T;
    try {
      outcome = await call();
    } catch (err) {
      const config = err instanceof PspConfigurationError;
      deps.log({
        level: "error",
        msg: config ? "PSP refused the shop's configuration" : "PSP call failed",
        connector,
        call: what,
        shopId: meta.shopId,
        requestId: meta.requestId,
        error: config ? err.operatorMessage : err instanceof Error ? err.message : String(err),
      });
      outcome = config && refused ? refused(err.message) : ({ kind: "unknown", reason: "the payment provider call failed" } as T);
    }
    observer.pspCall(connector, what, outcome.kind, Date.now() - started);
    return outcome;
  }

  /** Runs `task` alone for this payment; answers from the record if it overruns the budget. */
  async function serialized<T>(meta: RequestMeta, paymentId: string, task: () => Promise<T>, late: () => Promise<T>): Promise<T> {
    const work = mutex.run(lockKey(meta.shopId, paymentId), task);
    const result = await withinBudget(work, deps.pspTimeoutMs, (err) =>
      deps.log({ level: "error", msg: "background work failed", paymentId, shopId: meta.shopId, error: String(err) }),
    );
    return result.done ? result.value : late();
  }

  async function requirePayment(shopId: string, paymentId: string): Promise<PaymentRecord> {
    const payment = await repository.findPayment(shopId, paymentId);
    if (!payment) throw notFound(`payment ${paymentId} not found`);
    return payment;
  }

  function newPayment(meta: RequestMeta, shop: ShopConfig, fields: Pick<PaymentRecord, "_id" | "method" | "amount" | "test" | "manualCapture" | "requestHash"> & Partial<PaymentRecord>): PaymentRecord {
    const at = now();
    const authorizeOnly = shop.manualCaptureMeansAuthorizeOnly ? fields.manualCapture : !fields.manualCapture;
    return {
      shopId: meta.shopId,
      captureAtOnce: !authorizeOnly,
      state: "received",
      psp: shop.psp,
      idempotencyKey: pspIdempotencyKey("payment", meta.shopId, fields._id),
      channelPaymentId: "",
      authorizedMinor: 0,
      capturedMinor: 0,
      refundableMinor: 0,
      refundReservedMinor: 0,
      refundedMinor: 0,
      activeOperation: null,
      refundsInFlight: [],
      timeline: [{ at, event: "payment received", requestId: meta.requestId, state: "received" }],
      callbacks: [],
      nextCallbackAt: null,
      createdAt: at,
      updatedAt: at,
      ...fields,
    };
  }

  /**
   * Claims the payment id and, for a new payment, calls the PSP. A retry with the same
   * parameters gets the stored payment (no second PSP call); other parameters get a 409.
   */
  async function startPayment(meta: RequestMeta, record: PaymentRecord, pay: (p: PaymentRecord) => Promise<PaymentOutcome>): Promise<PaymentRecord> {
    return serialized(
      meta,
      record._id,
      async () => {
        const claimed = await repository.claimPayment(record);
        if (!claimed.inserted) {
          if (claimed.record.shopId !== record.shopId || claimed.record.requestHash !== record.requestHash) throw conflict("paymentId", record._id);
          return claimed.record;
        }
        const outcome = await callPsp(claimed.record.psp, "payment", meta, () => pay(claimed.record), (reason): PaymentOutcome => ({ kind: "declined", reason }));
        return applyPaymentOutcome(claimed.record, outcome, meta, `psp: ${outcome.kind}`);
      },
      async () => (await repository.findPayment(meta.shopId, record._id)) ?? record,
    );
  }

  /** The shared path of capture, void and refund: claim the id, reserve, call the PSP, settle. */
  async function runOperation(
    meta: RequestMeta,
    kind: OperationKind,
    idName: string,
    id: string,
    paymentId: string,
    test: boolean,
    amountValue: string | undefined,
  ): Promise<OperationRecord | null> {
    const shop = await shopOf(meta);
    const first = await requirePayment(meta.shopId, paymentId);
    const amount: Money | undefined = amountValue === undefined ? undefined : parseAmount(amountValue, first.amount.currency);
    const hash = requestHash({ kind, paymentId, amount: amount?.minor, test });
    return serialized(
      meta,
      paymentId,
      async () => {
        const existing = await repository.findOperation(kind, meta.shopId, id);
        if (existing) {
          if (existing.requestHash !== hash || existing.paymentId !== paymentId) throw conflict(idName, id);
          return existing;
        }
        const payment = await requirePayment(meta.shopId, paymentId);
        const connector = deps.connectors.get(payment.psp);
        refuseUnlessAllowed(kind, payment, amount, connector, test);
        const at = now();
        const claimed = await repository.claimOperation({
          _id: id,
          shopId: meta.shopId,
          kind,
          paymentId,
          test,
          state: "processing",
          requestHash: hash,
          idempotencyKey: pspIdempotencyKey(kind, meta.shopId, id),
          channelId: "",
          requestId: meta.requestId,
          createdAt: at,
          updatedAt: at,
          ...(amount ? { amount } : {}),
        });
        if (!claimed.inserted) {
          if (claimed.record.requestHash !== hash) throw conflict(idName, id);
          return claimed.record;
        }
        const op = claimed.record;
        const reserved = await reserve(kind, payment, op, meta);
        if (!reserved) {
          await repository.deleteOperation(kind, meta.shopId, id);
          const current = await requirePayment(meta.shopId, paymentId);
          refuseUnlessAllowed(kind, current, amount, connector, test);
          throw failedPrecondition(`payment ${paymentId} changed while the ${kind} was being prepared; try again`);
        }
        const ctx = pspContext(shop, payment.test);
        const outcome = await callPsp(connector.name, kind, meta, () => {
          const base = { idempotencyKey: op.idempotencyKey, reference: payment.channelPaymentId };
          const money = { minor: amount?.minor ?? payment.amount.minor, currency: payment.amount.currency };
          if (kind === "capture") return connector.capture(ctx, { ...base, amount: money });
          if (kind === "void") return connector.void(ctx, base);
          return connector.refund(ctx, { ...base, amount: money });
        }, (reason): OperationOutcome => ({ kind: "failed", reason }));
        return recorder.settleOperation(op, outcome, meta);
      },
      () => repository.findOperation(kind, meta.shopId, id),
    );
  }

  /** Our own rules, checked before anything is written (design §2.3: 422, state unchanged). */
  function refuseUnlessAllowed(kind: OperationKind, p: PaymentRecord, amount: Money | undefined, connector: Connector, test: boolean): void {
    const money = (minor: number) => `${formatMinor(minor, p.amount.currency)} ${p.amount.currency}`;
    const mode = (t: boolean) => (t ? "test" : "live");
    if (test !== p.test) throw failedPrecondition(`payment ${p._id} is a ${mode(p.test)} payment: a ${kind} with test=${test} cannot act on it`);
    if (kind === "capture") {
      if (p.state === "captured" || p.state === "partially_refunded" || p.state === "refunded") throw failedPrecondition(`payment ${p._id} is already captured`);
      if (p.state !== "authorized") throw failedPrecondition(`payment ${p._id} cannot be captured: it is ${p.state}, not authorized`);
      if (p.activeOperation) throw failedPrecondition(`payment ${p._id} has a ${p.activeOperation.kind} in progress (${p.activeOperation.id})`);
      if (amount && amount.minor > p.authorizedMinor) throw failedPrecondition(`capture of ${money(amount.minor)} exceeds the authorized ${money(p.authorizedMinor)}`);
      if (amount && amount.minor < p.authorizedMinor && !connector.capabilities.partialCapture) throw failedPrecondition(`the PSP ${connector.name} cannot capture part of a payment`);
    } else if (kind === "void") {
      if (p.state === "voided") throw failedPrecondition(`payment ${p._id} is already voided`);
      if (p.state !== "authorized") throw failedPrecondition(`payment ${p._id} cannot be voided: it is ${p.state}; only an authorized, uncaptured payment can`);
      if (p.activeOperation) throw failedPrecondition(`payment ${p._id} has a ${p.activeOperation.kind} in progress (${p.activeOperation.id})`);
    } else {
      if (p.state !== "captured" && p.state !== "partially_refunded") {
        throw failedPrecondition(`payment ${p._id} cannot be refunded: it is ${p.state}${p.state === "authorized" ? " (not captured)" : ""}`);
      }
      if (amount && amount.minor > p.refundableMinor) throw failedPrecondition(`refund of ${money(amount.minor)} exceeds the ${money(p.refundableMinor)} left to refund`);
    }
  }

  /** Holds the payment for the operation with a conditional update (design §4). */
  function reserve(kind: OperationKind, p: PaymentRecord, op: OperationRecord, meta: RequestMeta): Promise<PaymentRecord | null> {
    const event = { at: now(), event: `${kind} requested`, requestId: meta.requestId, operation: { kind, id: op._id } };
    if (kind === "refund") {
      const minor = op.amount?.minor ?? 0;
      return repository.updatePayment(p.shopId, p._id, { states: ["captured", "partially_refunded"], refundableAtLeast: minor }, {
        inc: { refundableMinor: -minor, refundReservedMinor: minor },
        addRefundInFlight: { id: op._id, minor },
        event,
      });
    }
    return repository.updatePayment(p.shopId, p._id, { states: ["authorized"], idle: true }, { set: { activeOperation: { kind, id: op._id } }, event });
  }

  /**
   * Under the payment's lock: if its outcome is still open, asks the PSP for its status and lets
   * `decide` act on the answer; otherwise returns the payment as it is.
   */
  async function withPspStatus(
    meta: RequestMeta,
    paymentId: string,
    decide: (p: PaymentRecord, outcome: PaymentOutcome, connector: Connector, ctx: PspContext) => Promise<PaymentRecord>,
  ): Promise<PaymentRecord | null> {
    const shop = await shopOf(meta);
    return mutex.run(lockKey(meta.shopId, paymentId), async () => {
      const p = await repository.findPayment(meta.shopId, paymentId);
      if (!p || !openStates.includes(p.state)) return p;
      const connector = deps.connectors.get(p.psp);
      const ctx = pspContext(shop, p.test);
      const outcome = await callPsp(connector.name, "payment status", meta, () => connector.paymentStatus(ctx, paymentQuery(p)));
      return decide(p, outcome, connector, ctx);
    });
  }

  function refreshPayment(meta: RequestMeta, paymentId: string): Promise<PaymentRecord | null> {
    return withPspStatus(meta, paymentId, async (p, outcome) =>
      // A status query that cannot answer leaves the payment as it is.
      outcome.kind === "unknown" ? p : applyPaymentOutcome(p, outcome, meta, `psp status: ${outcome.kind}`),
    );
  }

  async function refreshOperation(meta: RequestMeta, kind: OperationKind, id: string): Promise<OperationRecord | null> {
    const first = await repository.findOperation(kind, meta.shopId, id);
    if (!first || first.state !== "processing") return first;
    const shop = await shopOf(meta);
    return mutex.run(lockKey(meta.shopId, first.paymentId), async () => {
      const op = await repository.findOperation(kind, meta.shopId, id);
      const p = op && (await repository.findPayment(meta.shopId, op.paymentId));
      if (!op || !p || op.state !== "processing") return op;
      const connector = deps.connectors.get(p.psp);
      const outcome = await callPsp(connector.name, `${kind} status`, meta, () => connector.operationStatus(pspContext(shop, p.test), operationQuery(op, p)));
      if (outcome.kind === "unknown" || outcome.kind === "pending") return op;
      return recorder.settleOperation(op, outcome, meta);
    });
  }

  /**
   * A payment still waiting for the buyer that the buyer left (cancelled, or gone too long):
   * unless the PSP says it was paid or declined meanwhile, cancel it there and fail it.
   */
  function abandonPayment(meta: RequestMeta, paymentId: string, reason: (p: PaymentRecord) => string): Promise<PaymentRecord | null> {
    return withPspStatus(meta, paymentId, async (p, outcome, connector, ctx) => {
      // Money already taken must be reported as taken; a decline is a decline.
      if (outcome.kind === "approved" || outcome.kind === "declined" || outcome.kind === "authorized") return recorder.applyPaymentOutcome(p, outcome, meta, `psp status: ${outcome.kind}`);
      // No definitive answer: the charge may have gone through. Only the PSP's word fails a
      // payment (a decline, or a cancellation it confirmed); reconciliation asks again later.
      if (outcome.kind === "unknown") {
        deps.log({ level: "warn", msg: "the PSP could not say whether an abandoned payment was charged; it stays open", paymentId, shopId: meta.shopId, reason: outcome.reason });
        return p;
      }
      const reference = outcome.reference || p.channelPaymentId;
      const cancelled = reference
        ? await callPsp(connector.name, "void", meta, () => connector.void(ctx, { idempotencyKey: pspIdempotencyKey("void", meta.shopId, `expiry:${paymentId}`), reference }))
        : undefined;
      if (cancelled?.kind !== "succeeded") {
        deps.log({ level: "warn", msg: "could not cancel an abandoned payment at the PSP; it stays open and is tried again", paymentId, shopId: meta.shopId, outcome: cancelled?.kind ?? "no PSP reference" });
        return p;
      }
      return recorder.failPayment(p, reason(p), meta);
    });
  }

  const expirePayment = (meta: RequestMeta, paymentId: string) =>
    abandonPayment(meta, paymentId, (p) => `the buyer did not complete ${p.method === "card" ? "3-D Secure" : "the hosted payment page"} in time`);

  /**
   * A PSP's word on a capture, void or refund: settles one still processing (its answer was
   * lost); a final result is never changed, and a late failure of a success is an operator's job.
   */
  async function applyOperationEvent(connectorName: string, event: WebhookEvent, shopId: string | undefined): Promise<"applied" | "unknown payment" | "ignored"> {
    const found = await repository.findOperationByIdempotencyKey(event.idempotencyKey);
    if (!found || (shopId !== undefined && found.shopId !== shopId)) return "unknown payment";
    const outcome = event.outcome as OperationOutcome;
    const meta = { shopId: found.shopId, requestId: `webhook:${event.id}` };
    return mutex.run(lockKey(found.shopId, found.paymentId), async () => {
      const [op, p] = [await repository.findOperation(found.kind, found.shopId, found._id), await repository.findPayment(found.shopId, found.paymentId)];
      if (!op || !p || p.psp !== connectorName) return "unknown payment";
      if (otherMode(event, p)) return "unknown payment";
      if (outcome.kind === "pending" || outcome.kind === "unknown") return "ignored";
      if (op.state === "processing") {
        await recorder.settleOperation(op, outcome, meta);
        return "applied";
      }
      if (op.state === "succeeded" && outcome.kind === "failed") {
        deps.log({ level: "error", msg: `the PSP reports a ${op.kind} failed after it succeeded; Genstore was told it succeeded`, shopId: op.shopId, paymentId: op.paymentId, id: op._id, reason: outcome.reason });
      }
      return "ignored";
    });
  }

  const operationAnswer = (op: OperationRecord | null) => ({ channelId: op?.channelId ?? "", error: op?.state === "failed" ? (op.error ?? "failed") : "" });

  return {
    async createCardPayment(meta, req) {
      const shop = await shopOf(meta);
      const connector = deps.connectors.get(shop.psp);
      if (!connector.capabilities.card) throw failedPrecondition(`the shop's PSP ${connector.name} does not take card payments`);
      const amount = parseAmount(req.amount, req.currency);
      const data = req.paymentMethod?.data;
      if (!data) throw invalidArgument("paymentMethod.data is required");
      if (data.returnUrl) checkedRedirect(data.returnUrl, "paymentMethod.data.returnUrl", shop.redirectHosts, production);
      refuseLiveOnSandbox(req.test ?? false, connector);
      let card: CardDetails;
      let fingerprint: string;
      try {
        ({ card, fingerprint } = cards.decrypt(data));
      } catch (err) {
        if (err instanceof CardDecryptionError) {
          observer.decryptFailed();
          throw invalidArgument(err.message);
        }
        throw err;
      }
      const summary = cards.summarize(card, fingerprint);
      const record = newPayment(meta, shop, {
        _id: req.paymentId,
        method: "card",
        amount,
        test: req.test ?? false,
        manualCapture: req.manualCapture ?? false,
        requestHash: requestHash({ method: "card", amount: amount.minor, currency: amount.currency, test: req.test, manualCapture: req.manualCapture, card: fingerprint }),
        card: summary,
        ...(data.returnUrl ? { returnUrl: data.returnUrl } : {}),
      });
      const payment = await startPayment(meta, record, (p) =>
        connector.payWithCard(pspContext(shop, p.test), {
          idempotencyKey: p.idempotencyKey,
          amount: { minor: p.amount.minor, currency: p.amount.currency },
          capture: p.captureAtOnce,
          card,
          returnUrl: deps.returnLink(meta.shopId, p._id),
          description: `Genstore payment ${p._id}`,
        }),
      );
      return { threeDsUrl: payment.state === "requires_action" ? (payment.actionUrl ?? "") : "", error: paymentError(payment) };
    },

    async createOffsitePayment(meta, req) {
      const shop = await shopOf(meta);
      const connector = deps.connectors.get(shop.psp);
      if (!connector.capabilities.offsite) throw failedPrecondition(`the shop's PSP ${connector.name} does not take offsite payments`);
      const amount = parseAmount(req.amount, req.currency);
      const data = req.paymentMethod?.data;
      if (!data) throw invalidArgument("paymentMethod.data is required");
      const returnUrl = checkedRedirect(data.returnUrl, "paymentMethod.data.returnUrl", shop.redirectHosts, production);
      const cancelUrl = data.cancelUrl ? checkedRedirect(data.cancelUrl, "paymentMethod.data.cancelUrl", shop.redirectHosts, production) : undefined;
      refuseLiveOnSandbox(req.test ?? false, connector);
      const record = newPayment(meta, shop, {
        _id: req.paymentId,
        method: "offsite",
        amount,
        test: req.test ?? false,
        manualCapture: req.manualCapture ?? false,
        requestHash: requestHash({ method: "offsite", amount: amount.minor, currency: amount.currency, test: req.test, manualCapture: req.manualCapture }),
        returnUrl,
        ...(cancelUrl ? { cancelUrl } : {}),
      });
      const payment = await startPayment(meta, record, (p) =>
        connector.payOffsite(pspContext(shop, p.test), {
          idempotencyKey: p.idempotencyKey,
          amount: { minor: p.amount.minor, currency: p.amount.currency },
          capture: p.captureAtOnce,
          returnUrl: deps.returnLink(meta.shopId, p._id),
          cancelUrl: deps.returnLink(meta.shopId, p._id, true),
          description: `Genstore payment ${p._id}`,
        }),
      );
      const redirectUrl = payment.state === "requires_action" ? (payment.actionUrl ?? "") : "";
      const unavailable = !redirectUrl && !paymentError(payment) && payment.state !== "captured" && payment.state !== "authorized";
      return { redirectUrl, error: paymentError(payment) || (unavailable ? "the payment provider has not answered yet; ask again with Get payment" : "") };
    },

    async capturePayment(meta, req) {
      const op = await runOperation(meta, "capture", "captureId", req.captureId, req.paymentId, req.test ?? false, req.amount);
      const a = operationAnswer(op);
      return { channelCaptureId: a.channelId, error: a.error };
    },

    async voidPayment(meta, req) {
      const op = await runOperation(meta, "void", "voidId", req.voidId, req.paymentId, req.test ?? false, undefined);
      const a = operationAnswer(op);
      return { channelVoidId: a.channelId, error: a.error };
    },

    async refundPayment(meta, req) {
      const op = await runOperation(meta, "refund", "refundId", req.refundId, req.paymentId, req.test ?? false, req.amount);
      const a = operationAnswer(op);
      return { channelRefundId: a.channelId, error: a.error };
    },

    async getPayment(meta, req) {
      let payment = await requirePayment(meta.shopId, req.paymentId);
      // Genstore polls this: an open outcome is worth one question to the PSP.
      if (openStates.includes(payment.state) && payment.state !== "received") {
        payment = (await refreshPayment(meta, req.paymentId)) ?? payment;
      }
      return { channelPaymentId: payment.channelPaymentId, status: genstorePaymentStatus(payment.state), error: paymentError(payment) };
    },

    async getRefund(meta, req) {
      await shopOf(meta);
      const refund = await repository.findOperation("refund", meta.shopId, req.refundId);
      if (!refund) throw notFound(`refund ${req.refundId} not found`);
      return { channelRefundId: refund.channelId, status: genstoreRefundStatus(refund.state), error: refund.state === "failed" ? (refund.error ?? "refund failed") : "" };
    },

    async returnFromPsp(meta, paymentId, buyerCancelled = false) {
      const shop = await shopOf(meta);
      const before = await requirePayment(meta.shopId, paymentId);
      // A hit writes nothing itself, and asks the PSP at most once per interval whatever the
      // hit rate: only the PSP's answer changes the payment. A PSP whose page stays open after
      // the buyer cancels (Stripe Checkout) is told so here.
      const ask = () => (buyerCancelled ? abandonPayment(meta, paymentId, () => "cancelled by the buyer on the payment page") : refreshPayment(meta, paymentId));
      const after = (await returnThrottle.run(`${lockKey(meta.shopId, paymentId)}\u0000${buyerCancelled}`, ask, () => repository.findPayment(meta.shopId, paymentId))) ?? before;
      const cancelled = (after.state === "declined" || after.state === "failed") && after.cancelUrl && /cancel/i.test(after.error ?? "");
      const target = cancelled ? after.cancelUrl : after.returnUrl;
      if (!target) throw failedPrecondition(`payment ${paymentId} has no return URL`);
      // The shop's allowed hosts may have changed since the payment was made.
      return { redirectTo: checkedRedirect(target, "the payment's return URL", shop.redirectHosts, production) };
    },

    refreshPayment,
    refreshOperation,
    expirePayment,

    async applyWebhook(connectorName, event, shopId) {
      if (event.target === "operation") return applyOperationEvent(connectorName, event, shopId);
      const found = await repository.findPaymentByIdempotencyKey(event.idempotencyKey);
      if (!found || found.psp !== connectorName || (shopId !== undefined && found.shopId !== shopId)) return "unknown payment";
      if (otherMode(event, found)) return "unknown payment";
      const meta = { shopId: found.shopId, requestId: `webhook:${event.id}` };
      await mutex.run(lockKey(found.shopId, found._id), async () => {
        const p = await repository.findPayment(found.shopId, found._id);
        if (p) await recorder.applyPaymentOutcome(p, event.outcome as PaymentOutcome, meta, `psp webhook: ${event.outcome.kind}`);
      });
      return "applied";
    },
  };
}
