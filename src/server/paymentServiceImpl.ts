import type { DescMessage, Message } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import type { PaymentUseCases, RequestMeta } from "../payments/paymentUseCases.js";
import { handleWith } from "./handleWith.js";
import type { Logger } from "./logger.js";

/**
 * The Connect implementation of PaymentService: one for the Genstore JSON routes, Connect and
 * gRPC alike. Each method checks its input and calls its use case for the gate's shop.
 */
export function createPaymentServiceImpl(useCases: PaymentUseCases, log: Logger): ServiceImpl<typeof PaymentService> {
  const m = PaymentService.method;
  const h = <Req extends Message, Res>(d: { input: DescMessage; name: string }, run: (meta: RequestMeta, req: Req) => Promise<Res>) => handleWith(d.input, d.name, log, true, run);
  return {
    createCardPayment: h(m.createCardPayment, useCases.createCardPayment),
    createOffsitePayment: h(m.createOffsitePayment, useCases.createOffsitePayment),
    capturePayment: h(m.capturePayment, useCases.capturePayment),
    voidPayment: h(m.voidPayment, useCases.voidPayment),
    refundPayment: h(m.refundPayment, useCases.refundPayment),
    getPayment: h(m.getPayment, useCases.getPayment),
    getRefund: h(m.getRefund, useCases.getRefund),
  };
}
