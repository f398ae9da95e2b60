import type { DescMessage, Message } from "@bufbuild/protobuf";
import { ConnectError, type HandlerContext } from "@connectrpc/connect";
import { PaymentError } from "../payments/errors.js";
import type { RequestMeta } from "../payments/use-cases/index.js";
import { toConnectError } from "./errorMapping.js";
import { isDatabaseUnavailable } from "../runtime/databaseErrors.js";
import type { Logger } from "../observability/logger.js";
import { requestContextKey, requestIdKey } from "./requestContext.js";
import { validateRequest } from "./validateRequest.js";

/**
 * Runs a handler with the request's context (the shop the gate authenticated, the request id),
 * checked input, and errors mapped once. `needsShop`: the method acts for a shop, so the gate
 * must have run (it always does; this keeps a wiring mistake from reaching a use case).
 */
export function handleWith<Req extends Message, Res>(
  input: DescMessage,
  name: string,
  log: Logger,
  needsShop: boolean,
  run: (meta: RequestMeta, req: Req) => Promise<Res>,
) {
  return async (req: Req, ctx: HandlerContext): Promise<Res> => {
    const context = ctx.values.get(requestContextKey);
    const requestId = context?.requestId ?? (ctx.values.get(requestIdKey) || "unknown");
    const meta: RequestMeta = context ? { shopId: context.shop.shopId, shop: context.shop, requestId } : { shopId: "", requestId };
    try {
      if (needsShop && !context) throw new Error(`${name} was called without passing the request gate`);
      validateRequest(input, req);
      return await run(meta, req);
    } catch (err) {
      // Expected errors go back to the caller; anything else is ours to look at.
      if (isDatabaseUnavailable(err)) {
        // An outage is the operator's to see once per request, not a bug: warn, answer "retry".
        log({ level: "warn", msg: "database unavailable", rpc: name, shopId: meta.shopId, requestId, error: err instanceof Error ? err.message : String(err) });
      } else if (!(err instanceof PaymentError) && !(err instanceof ConnectError)) {
        log({ level: "error", msg: "request failed", rpc: name, shopId: meta.shopId, requestId, error: err instanceof Error ? err.message : String(err) });
      }
      throw toConnectError(err);
    }
  };
}
