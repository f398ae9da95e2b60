import { notFound } from "../errors.js";
import { openStates } from "../stateMachine.js";
import { genstorePaymentStatus } from "../status.js";
import type { Kernel } from "./kernel.js";
import { refreshPayment } from "./refreshPayment.js";
import { paymentError } from "./startPayment.js";
import type { PaymentStatusAnswer, RequestMeta } from "./types.js";

/** Get payment: Genstore polls it, so an open outcome is worth one question to the PSP. */
export function getPayment(k: Kernel) {
  const refresh = refreshPayment(k);
  return async (meta: RequestMeta, paymentId: string): Promise<PaymentStatusAnswer> => {
    await k.shopOf(meta);
    // Not older than an answer already given: the write that follows it lands first.
    await k.settled(meta.shopId, paymentId);
    let payment = await k.repository.findPayment(meta.shopId, paymentId);
    // The API page's own answer for a payment the provider does not know.
    if (!payment) throw notFound("Not found payment information.");
    if (openStates.includes(payment.state) && payment.state !== "received") payment = (await refresh(meta, paymentId)) ?? payment;
    return { channelPaymentId: payment.channelPaymentId, status: genstorePaymentStatus(payment.state), error: paymentError(payment) };
  };
}
