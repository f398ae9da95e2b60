import type { ServerResponse } from "node:http";
import { PaymentError } from "../payments/errors.js";
import type { PaymentUseCases } from "../payments/use-cases/index.js";
import type { ReturnLinks } from "./auth/returnLinks.js";
import { httpStatusOf, toConnectError } from "./errorMapping.js";
import { sendJson, type NodeRequest, type NodeResponse } from "./httpJson.js";
import type { Logger } from "../observability/logger.js";
import { requestIdFrom } from "./requestContext.js";

/**
 * GET /return/{shopId}/{paymentId}?t=…[&cancelled=1]: the buyer is back from a PSP page
 * (3-D Secure, hosted checkout). Only a link we signed is served; the buyer is redirected (303)
 * to Genstore's returnUrl, or cancelUrl when the PSP confirmed the cancellation.
 */
export function createReturnRoute(useCases: Pick<PaymentUseCases, "returnFromPsp">, links: ReturnLinks, log: Logger) {
  return async function returnRoute(req: NodeRequest, res: NodeResponse, shopId: string, paymentId: string): Promise<void> {
    const query = new URL(req.url ?? "/", "http://x").searchParams;
    if (!links.valid(shopId, paymentId, query.get("t") ?? "")) return sendJson(res, 403, { error: "this return link is not valid" });
    try {
      const { redirectTo } = await useCases.returnFromPsp(
        { shopId, requestId: requestIdFrom(req.headers["x-request-id"]) },
        paymentId,
        query.get("cancelled") === "1",
      );
      (res as ServerResponse).writeHead(303, { location: redirectTo, "cache-control": "no-store" });
      res.end();
    } catch (err) {
      const ce = toConnectError(err);
      if (!(err instanceof PaymentError)) log({ level: "error", msg: "return failed", shopId, paymentId, error: String(err) });
      sendJson(res, httpStatusOf(ce.code), { error: ce.rawMessage });
    }
  };
}
