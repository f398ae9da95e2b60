import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { sourceFolder } from "../../runtime/sourceFolder.js";
import type { NodeRequest, NodeResponse } from "../httpJson.js";

const types: Record<string, string> = { ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8" };

/** The pages' stylesheet and the console's browser modules, read once from this folder: nothing else is served. */
export function createAssets(dir = sourceFolder(__dirname, "assets")) {
  const files = new Map<string, { body: Buffer; type: string; etag: string }>();
  for (const name of readdirSync(dir)) {
    const type = types[name.slice(name.lastIndexOf("."))];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    files.set(name, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"` });
  }
  return function serveAsset(req: NodeRequest, res: NodeResponse, name: string): void {
    const f = files.get(name);
    if (!f) {
      (res as ServerResponse).writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found");
      return;
    }
    const fresh = req.headers["if-none-match"] === f.etag;
    (res as ServerResponse).writeHead(fresh ? 304 : 200, {
      "content-type": f.type,
      ...(fresh ? {} : { "content-length": String(f.body.length) }),
      "cache-control": "no-cache",
      etag: f.etag,
    });
    if (fresh) res.end();
    else res.end(f.body);
  };
}
