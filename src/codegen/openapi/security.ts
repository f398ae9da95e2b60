// How a Genstore JSON request is authenticated (src/server/auth), as OpenAPI security schemes.
// Either one is enough; with no GENSTORE_CLIENT_SECRET in development, neither is required.
import type { JsonSchema } from "./fieldRules.js";

export const securitySchemes: Record<string, JsonSchema> = {
  genstoreQuerySignature: {
    type: "apiKey",
    in: "query",
    name: "hmac",
    description:
      "Genstore's signed query: `hmac` is the hex HMAC-SHA256, under the client secret, of the other query parameters " +
      'sorted by key and joined as key=value with "&", exactly as sent (not decoded). They must include `timestamp` ' +
      "(seconds or milliseconds, within 5 minutes of now) and may name the shop with `shopId` or `shop`; other parameters " +
      "Genstore adds are signed too and otherwise ignored.",
  },
  genstoreBodySignature: {
    type: "apiKey",
    in: "header",
    name: "X-Genstore-Hmac-Sha256",
    description:
      "The body's HMAC-SHA256 under the client secret (of the shop named by `shopId` or X-Genstore-Shop-Id when it has one " +
      "of its own, else the deployment's), hex or base64. It authorizes only what the body says: an empty body is refused, " +
      "and a path or query value other than the body's is refused.",
  },
};
