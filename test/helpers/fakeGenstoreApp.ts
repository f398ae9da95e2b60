import { createHmac, randomBytes } from "node:crypto";
import type { FakeRoute } from "./fakeGenstore";

/** Genstore's query signature (hex HMAC-SHA256 of the sorted key=value pairs), as it signs App URLs and redirects. */
export function signQuery(secret: string, params: Record<string, string>): string {
  const pairs = Object.entries(params).map(([k, v]) => [k, encodeURIComponent(v)] as const);
  const message = [...pairs]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const hmac = createHmac("sha256", secret).update(message).digest("hex");
  return [...pairs.map(([k, v]) => `${k}=${v}`), `hmac=${hmac}`].join("&");
}

export const nowSeconds = () => String(Math.floor(Date.now() / 1000));

/** Signs a webhook body as Genstore does (X-Genstore-Hmac-Sha256, hex or base64). */
export function webhookSignature(secret: string, body: string, encoding: "hex" | "base64" = "base64"): string {
  return createHmac("sha256", secret).update(body).digest(encoding);
}

export interface FakeGenstoreApp {
  routes: FakeRoute[];
  /** Codes handed out, and how many times each was exchanged. */
  exchanges: Map<string, number>;
  /** Access tokens issued, by shop id. */
  tokens: Map<string, string>;
  /** The App URL Genstore opens for a shop: our /app with a signed query. */
  appUrl(serviceUrl: string, shopDomain: string): string;
  /** A redirect to our callback as the consent page would send it (for plain-HTTP tests). */
  consentRedirect(redirectUri: string, shopDomain: string, state: string): { url: string; code: string };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Genstore's side of installing an app, for tests: the OAuth consent page (a real form), the
 * token endpoint (each code good once), shops under /shops/{domain}/. Other paths (the
 * account_authorize and result callbacks) fall through to the fake's recorder.
 */
export function createFakeGenstoreApp(opts: { clientId: string; clientSecret: string; shops: Record<string, string> }): FakeGenstoreApp {
  const exchanges = new Map<string, number>();
  const tokens = new Map<string, string>();
  const codes = new Map<string, string>();

  function consentRedirect(redirectUri: string, shopDomain: string, state: string) {
    const code = `code_${randomBytes(12).toString("hex")}`;
    codes.set(code, shopDomain);
    exchanges.set(code, 0);
    const shopId = opts.shops[shopDomain]!;
    const q = signQuery(opts.clientSecret, { code, shop: shopDomain, shopId, state, timestamp: nowSeconds() });
    return { url: `${redirectUri}?${q}`, code };
  }

  const consent: FakeRoute = (req, res, text) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const m = /^\/shops\/([^/]+)\/oauth2\/authorize$/.exec(url.pathname);
    if (!m) return false;
    const shopDomain = decodeURIComponent(m[1]!);
    const q = req.method === "POST" ? new URLSearchParams(text) : url.searchParams;
    if (q.get("clientId") !== opts.clientId || !opts.shops[shopDomain]) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("unknown app or shop");
      return true;
    }
    if (req.method === "POST") {
      res.writeHead(303, { location: consentRedirect(q.get("redirectUri") ?? "", shopDomain, q.get("state") ?? "").url });
      res.end();
      return true;
    }
    const hidden = ["clientId", "scope", "redirectUri", "state"].map((k) => `<input type="hidden" name="${k}" value="${escape(q.get(k) ?? "")}">`).join("");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width"><title>Genstore: install app</title></head>
<body style="font-family:sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem"><h1>Install payment app</h1>
<p>The app asks for: <strong>${escape(q.get("scope") ?? "")}</strong> on ${escape(shopDomain)}.</p>
<form method="post">${hidden}<button type="submit">Install app</button></form></body></html>`);
    return true;
  };

  const token: FakeRoute = (req, res, text) => {
    const m = /^\/shops\/([^/]+)\/oauth2\/token$/.exec(req.url ?? "");
    if (!m || req.method !== "POST") return false;
    const body = JSON.parse(text || "{}") as Record<string, string>;
    const shopDomain = decodeURIComponent(m[1]!);
    const uses = exchanges.get(body.code ?? "");
    const ok =
      body.clientId === opts.clientId &&
      body.clientSecret === opts.clientSecret &&
      body.grantType === "authorization_code" &&
      codes.get(body.code ?? "") === shopDomain &&
      uses === 0;
    if (uses !== undefined) exchanges.set(body.code!, uses + 1);
    if (!ok) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "invalid_grant" }));
      return true;
    }
    const accessToken = `gat_${randomBytes(16).toString("hex")}`;
    tokens.set(opts.shops[shopDomain]!, accessToken);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ accessToken, scope: "read_payment,write_payment" }));
    return true;
  };

  return {
    routes: [consent, token],
    exchanges,
    tokens,
    consentRedirect,
    appUrl: (serviceUrl, shopDomain) =>
      `${serviceUrl}/app?${signQuery(opts.clientSecret, { shop: shopDomain, shopId: opts.shops[shopDomain]!, timestamp: nowSeconds() })}`,
  };
}
