import { expirePayment } from "./abandonPayment.js";
import { applyWebhook } from "./applyWebhook.js";
import { capturePayment } from "./capturePayment.js";
import { createCardPayment } from "./createCardPayment.js";
import { createOffsitePayment } from "./createOffsitePayment.js";
import { getPayment } from "./getPayment.js";
import { getRefund } from "./getRefund.js";
import { createKernel, type PaymentUseCaseDeps } from "./kernel.js";
import { refreshOperation } from "./refreshOperation.js";
import { refreshPayment } from "./refreshPayment.js";
import { refundPayment } from "./refundPayment.js";
import { returnFromPsp } from "./returnFromPsp.js";
import type { PaymentUseCases } from "./types.js";
import { voidPayment } from "./voidPayment.js";

export { paymentLockKey, type PaymentUseCaseDeps } from "./kernel.js";
export type * from "./types.js";

/** The operations of the payment domain, one file each, over one kernel (locks, PSP calls, recorder). */
export function createPaymentUseCases(deps: PaymentUseCaseDeps): PaymentUseCases {
  const k = createKernel(deps);
  return {
    createCardPayment: createCardPayment(k),
    createOffsitePayment: createOffsitePayment(k),
    capturePayment: capturePayment(k),
    voidPayment: voidPayment(k),
    refundPayment: refundPayment(k),
    getPayment: getPayment(k),
    getRefund: getRefund(k),
    returnFromPsp: returnFromPsp(k),
    refreshPayment: refreshPayment(k),
    refreshOperation: refreshOperation(k),
    expirePayment: expirePayment(k),
    applyWebhook: applyWebhook(k),
    settled: () => k.allSettled(),
  };
}
