import type { DescMessage, Message } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import type { Logger } from "../observability/logger.js";
import type { PaymentUseCases, RequestMeta } from "../payments/use-cases/index.js";
import { handleWith } from "./handleWith.js";
import * as wire from "./paymentWire.js";

/**
 * The Connect implementation of PaymentService: one for the Genstore JSON routes, Connect and
 * gRPC alike. Each method checks its input, maps it to the domain's terms and calls its use
 * case for the shop the gate authenticated.
 */
export function createPaymentServiceImpl(useCases: PaymentUseCases, log: Logger): ServiceImpl<typeof PaymentService> {
  const m = PaymentService.method;
  const h = <Req extends Message, Res>(d: { input: DescMessage; name: string }, run: (meta: RequestMeta, req: Req) => Promise<Res>) =>
    handleWith(d.input, d.name, log, true, run);
  return {
    createCardPayment: h(m.createCardPayment, (meta, req) => useCases.createCardPayment(meta, wire.cardPaymentRequest(req))),
    createOffsitePayment: h(m.createOffsitePayment, (meta, req) => useCases.createOffsitePayment(meta, wire.offsitePaymentRequest(req))),
    capturePayment: h(m.capturePayment, async (meta, req) => wire.captureResponse(await useCases.capturePayment(meta, wire.captureRequest(req)))),
    voidPayment: h(m.voidPayment, async (meta, req) => wire.voidResponse(await useCases.voidPayment(meta, wire.voidRequest(req)))),
    refundPayment: h(m.refundPayment, async (meta, req) => wire.refundResponse(await useCases.refundPayment(meta, wire.refundRequest(req)))),
    getPayment: h(m.getPayment, async (meta, req) => wire.getPaymentResponse(await useCases.getPayment(meta, req.paymentId))),
    getRefund: h(m.getRefund, async (meta, req) => wire.getRefundResponse(await useCases.getRefund(meta, req.refundId))),
  };
}
