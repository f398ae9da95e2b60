import { createHash } from "node:crypto";
import type { PaymentOutcome } from "../../psp/connector.js";
import { PaymentError } from "../errors.js";
import { pspIdempotencyKey } from "../idempotencyKeys.js";
import type { PaymentRecord } from "../records.js";
import type { ShopConfig } from "../shops.js";
import type { Kernel } from "./kernel.js";
import type { RequestMeta } from "./types.js";

/** Hash of what defines an operation: the same id with another hash is a conflicting reuse. */
export function requestHash(parts: Record<string, unknown>): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url");
}

export function conflict(idName: string, id: string): PaymentError {
  return new PaymentError("idempotency_conflict", `${idName} ${id} was already received with different parameters; use a new ${idName} for a new attempt`);
}

/** What Genstore hears as `error` about a payment: the reason of a decline or failure, else "". */
export function paymentError(p: PaymentRecord): string {
  return p.state === "declined" || p.state === "failed" ? (p.error ?? "payment failed") : "";
}

type NewPaymentFields = Pick<PaymentRecord, "_id" | "method" | "amount" | "test" | "manualCapture" | "requestHash"> & Partial<PaymentRecord>;

/** A payment as first recorded: received, nothing authorized, an empty outbox. */
export function newPayment(k: Kernel, meta: RequestMeta, shop: ShopConfig, fields: NewPaymentFields): PaymentRecord {
  const at = k.now();
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
 * parameters gets the stored payment (no second PSP call); other parameters are a conflict.
 * A payment still `received` under its lock was claimed by a process that never got the PSP's
 * answer written (it crashed before or during the call): Genstore's retry, which carries the
 * card again, resumes the call with the same idempotency key, so the PSP charges at most once.
 */
export function startPayment(k: Kernel, meta: RequestMeta, record: PaymentRecord, pay: (p: PaymentRecord) => Promise<PaymentOutcome>): Promise<PaymentRecord> {
  return k.serialized(
    meta,
    record._id,
    async (answer) => {
      const claimed = await k.repository.claimPayment(record);
      if (!claimed.inserted) {
        if (claimed.record.shopId !== record.shopId || claimed.record.requestHash !== record.requestHash) throw conflict("paymentId", record._id);
        if (claimed.record.state !== "received") return claimed.record;
      }
      const p = claimed.record;
      const outcome = await k.callPsp<PaymentOutcome>({
        connector: p.psp,
        what: "payment",
        meta,
        send: () => pay(p),
        refused: (reason) => ({ kind: "declined", reason }),
        // A resumed payment may have reached the PSP before the crash: only a new one is refused unsent.
        fresh: claimed.inserted,
      });
      // The answer tells the PSP's outcome once the final write is queued; the lock is held
      // until it lands (decisions.md D3). Not a decline: it may be one the PSP never saw (an open
      // circuit, refused credentials), which the PSP holds nothing of under the key; should its
      // write fail, Genstore's retry must still find the payment unanswered, not charge it.
      const event = claimed.inserted ? `psp: ${outcome.kind}` : `psp (resumed on Genstore's retry): ${outcome.kind}`;
      const early = outcome.kind === "declined" || outcome.kind === "absent" ? undefined : answer;
      return k.recorder.applyPaymentOutcome(p, outcome, meta, event, early);
    },
    async () => (await k.repository.findPayment(meta.shopId, record._id)) ?? record,
  );
}
