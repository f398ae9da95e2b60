import type { DescMessage, Message } from "@bufbuild/protobuf";
import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb.js";
import { PaymentError } from "../payments/errors.js";
import type { PaymentUseCases, RequestMeta } from "../payments/paymentUseCases.js";
import { toConnectError } from "./errorMapping.js";
import { requestIdKey, shopIdKey } from "./requestContext.js";
import { validateRequest } from "./validateRequest.js";

export type Logger = (entry: Record<string, unknown>) => void;

/** Runs a handler with the request's shop and id, checked input, and errors mapped once. */
export function handleWith<Req extends Message, Res>(input: DescMessage, name: string, defaultShopId: string, log: Logger, run: (meta: RequestMeta, req: Req) => Promise<Res>) {
  return async (req: Req, ctx: HandlerContext): Promise<Res> => {
    const meta = { shopId: ctx.values.get(shopIdKey) ?? defaultShopId, requestId: ctx.values.get(requestIdKey) || "unknown" };
    try {
      validateRequest(input, req);
      return await run(meta, req);
    } catch (err) {
      // Expected errors go back to the caller; anything else is ours to look at.
      if (!(err instanceof PaymentError) && !(err instanceof ConnectError)) {
        log({ level: "error", msg: "request failed", rpc: name, shopId: meta.shopId, requestId: meta.requestId, error: err instanceof Error ? err.message : String(err) });
      }
      throw toConnectError(err);
    }
  };
}

/**
 * The Connect implementation of PaymentService: one for the Genstore JSON routes, Connect and
 * gRPC alike. Each method checks required fields, resolves the shop and calls its use case.
 */
export function createPaymentServiceImpl(useCases: PaymentUseCases, defaultShopId: string, log: Logger): ServiceImpl<typeof PaymentService> {
  const m = PaymentService.method;
  const h = <Req extends Message, Res>(d: { input: DescMessage; name: string }, run: (meta: RequestMeta, req: Req) => Promise<Res>) => handleWith(d.input, d.name, defaultShopId, log, run);
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
