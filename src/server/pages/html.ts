import type { ServerResponse } from "node:http";
import type { NodeResponse } from "../httpJson.js";

/** Text made safe for HTML content and attribute values. */
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Pages load only what the service serves itself: no inline script or style, no framing, forms post here only. */
export const pageCsp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export interface PageParts {
  title: string;
  /** Shown at the top, e.g. the shop or "Operator console". */
  context: string;
  body: string;
  /** Module scripts under /assets/ (the console). */
  scripts?: string[];
  /** Extra links in the header (already HTML). */
  nav?: string;
}

export function htmlPage(p: PageParts): string {
  const scripts = (p.scripts ?? []).map((s) => `<script type="module" src="/assets/${escapeHtml(s)}"></script>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(p.title)}</title><link rel="stylesheet" href="/assets/app.css">${scripts}</head>
<body><header class="top"><span class="brand">Genstore payments</span><span class="context">${escapeHtml(p.context)}</span>${p.nav ?? ""}</header>
<main id="main">${p.body}</main></body></html>`;
}

/** An HTML answer that no cache keeps, under the strict CSP; extra headers (Set-Cookie) as given. */
export function sendHtml(res: NodeResponse, status: number, html: string, headers: Record<string, string | string[]> = {}): void {
  (res as ServerResponse).writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": String(Buffer.byteLength(html)),
    "cache-control": "no-store",
    "content-security-policy": pageCsp,
    ...headers,
  });
  res.end(html);
}

/** A short page saying why a request was refused and what to do. */
export function sendMessage(res: NodeResponse, status: number, title: string, message: string, context = ""): void {
  sendHtml(res, status, htmlPage({ title, context, body: `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>` }));
}

/** See Other: the browser follows with a GET. */
export function redirect(res: NodeResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  (res as ServerResponse).writeHead(303, { location, "cache-control": "no-store", "content-length": "0", ...headers });
  res.end();
}
