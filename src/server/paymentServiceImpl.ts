import type { DescMessage, Message } from "@bufbuild/protobuf";
import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import { PaymentError } from "../payments/errors.js";
import type { PaymentUseCases } from "../payments/paymentUseCases.js";
import { toConnectError } from "./errorMapping.js";
import { shopIdKey } from "./shop.js";
import { validateRequest } from "./validateRequest.js";

export type Logger = (entry: Record<string, unknown>) => void;

/**
 * The Connect implementation of PaymentService: one for the Genstore JSON routes, Connect and
 * gRPC alike. Each method checks required fields, resolves the shop and calls its use case.
 */
export function createPaymentServiceImpl(useCases: PaymentUseCases, defaultShopId: string, log: Logger): ServiceImpl<typeof PaymentService> {
  function handle<Req extends Message, Res>(input: DescMessage, name: string, run: (shopId: string, req: Req) => Promise<Res>) {
    return async (req: Req, ctx: HandlerContext): Promise<Res> => {
      const shopId = ctx.values.get(shopIdKey) ?? defaultShopId;
      try {
        validateRequest(input, req);
        return await run(shopId, req);
      } catch (err) {
        // Expected errors go back to the caller; anything else is ours to look at.
        if (!(err instanceof PaymentError) && !(err instanceof ConnectError)) {
          log({ level: "error", msg: "request failed", rpc: name, shopId, error: String(err) });
        }
        throw toConnectError(err);
      }
    };
  }
  const m = PaymentService.method;
  return {
    createCardPayment: handle(m.createCardPayment.input, m.createCardPayment.name, useCases.createCardPayment),
    createOffsitePayment: handle(m.createOffsitePayment.input, m.createOffsitePayment.name, useCases.createOffsitePayment),
    capturePayment: handle(m.capturePayment.input, m.capturePayment.name, useCases.capturePayment),
    voidPayment: handle(m.voidPayment.input, m.voidPayment.name, useCases.voidPayment),
    refundPayment: handle(m.refundPayment.input, m.refundPayment.name, useCases.refundPayment),
    getPayment: handle(m.getPayment.input, m.getPayment.name, useCases.getPayment),
    getRefund: handle(m.getRefund.input, m.getRefund.name, useCases.getRefund),
  };
}
