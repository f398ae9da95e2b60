import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import openApiDocument from "../../gen/genstore/payment/v1/payment_service.openapi.json";
import type { NodeResponse } from "./httpJson.js";

/** The files of swagger-ui-dist the page loads; nothing else of the package is served. */
const assets: Readonly<Record<string, string>> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Genstore payment extension: API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise send the document's URL to validator.swagger.io.
const init = `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });\n`;

/**
 * Everything the page uses comes from this service; the policy tells the browser so (Swagger UI
 * sets inline styles, and shows SVG and data: images).
 */
const pagePolicy =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function send(res: NodeResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  (res as ServerResponse).writeHead(status, {
    "content-type": type,
    "content-length": String(Buffer.byteLength(body)),
    "cache-control": "no-cache",
    ...extra,
  });
  res.end(body);
}

/** GET /openapi.json, GET /docs and the page's files (a self-hosted Swagger UI from swagger-ui-dist). */
export function createApiDocs() {
  const documentText = JSON.stringify(openApiDocument);
  const dist = join(require.resolve("swagger-ui-dist/package.json"), "..");
  const files = new Map<string, Buffer>();
  const file = (name: string) => {
    let body = files.get(name);
    if (!body) files.set(name, (body = readFileSync(join(dist, name))));
    return body;
  };
  return {
    openApi(res: NodeResponse): void {
      send(res, 200, "application/json; charset=utf-8", documentText, { "access-control-allow-origin": "*" });
    },
    page(res: NodeResponse): void {
      send(res, 200, "text/html; charset=utf-8", page, { "content-security-policy": pagePolicy });
    },
    /** A file of the page; false when there is none of that name. */
    asset(res: NodeResponse, name: string): boolean {
      if (name === "init.js") send(res, 200, "text/javascript; charset=utf-8", init);
      else if (assets[name]) send(res, 200, assets[name], file(name));
      else return false;
      return true;
    },
  };
}
