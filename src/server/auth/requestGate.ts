import { safeEqual } from "../../runtime/safeEqual.js";
import { PaymentError, invalidArgument } from "../../payments/errors.js";
import { shopPattern, type ShopConfig, type ShopDirectory } from "../../payments/shops.js";
import { createTokenBuckets } from "../../runtime/tokenBucket.js";
import { bodySignatureMatches, queryPairs, unauthenticated, verifyQuerySignature } from "./genstoreSignature.js";
import { hashToken, type InternalToken } from "./internalTokens.js";
import { databaseUnavailable } from "../errorMapping.js";

/** Who a request was authenticated as. */
export type Principal =
  | { kind: "genstore"; proof: "query" | "body" }
  | { kind: "internal"; name: string; access: "read" | "write" }
  /** Signatures are not required (development) and none was sent. */
  | { kind: "unsigned" };

/** What the gate needs of a PaymentService request, whatever protocol carried it. */
export interface GateRequest {
  /** The URL's query without "?", exactly as received. */
  rawQuery: string;
  headers: Headers;
  /** The body exactly as received (what X-Genstore-Hmac-Sha256 signs). */
  rawBody: Buffer;
  /** read: the method changes nothing (Get payment, Get refund); write: it may move money. */
  access: "read" | "write";
  /** The method's name, for messages. */
  method: string;
}

export interface Admitted {
  shop: ShopConfig;
  principal: Principal;
}

export interface RequestGateOptions {
  shops: ShopDirectory;
  defaultShopId: string;
  genstoreClientSecret?: string | undefined;
  requireSignature: boolean;
  internalTokens?: readonly InternalToken[];
  /** Bearer token of the operators' services (ShopService, OperationsService). */
  adminToken?: string | undefined;
  rateLimitPerShop: number;
  rateLimitPerIp: number;
  /** false while the database health monitor sees an outage: requests are answered 503 at once. */
  databaseUp?: () => boolean;
  /** The operator console's session (cookie and CSRF header), accepted for the operators' services. */
  consoleSession?: (headers: Headers) => boolean;
  now?: () => number;
}

/**
 * The one trust boundary in front of every protocol (Genstore JSON, Connect, gRPC): who is
 * asking, for which shop, and whether they may now. The shop comes only from what was
 * authenticated; a shop's request budget is charged only by requests authenticated for it.
 */
export interface RequestGate {
  /** Per client address, before any other work; returns ms to wait, 0 when admitted. */
  admitAddress(address: string): number;
  /** Authenticates a PaymentService request, loads its shop once and charges the shop's budget. */
  admit(req: GateRequest): Promise<Admitted>;
  /** The operators' services: the ADMIN_TOKEN bearer or a console session, or nothing. */
  admitOperator(headers: Headers): void;
}

const notSigned = "this request is not signed: Genstore's hmac parameter or X-Genstore-Hmac-Sha256 header is required";

function bearerOf(headers: Headers): string | undefined {
  return /^Bearer (\S+)$/i.exec(headers.get("authorization") ?? "")?.[1];
}

function checkedShopId(value: string, where: string): string {
  if (!shopPattern.test(value)) throw invalidArgument(`${where} must be 1-100 letters, digits, ".", "_" or "-"`);
  return value;
}

/** A shop named without a signature: the query's shopId / shop, then the X-Genstore-Shop-* headers. */
function namedShop(rawQuery: string, headers: Headers): string | undefined {
  const query = new URLSearchParams(rawQuery);
  const candidates: [string, string | null][] = [
    ["shopId", query.get("shopId")],
    ["shop", query.get("shop")],
    ["X-Genstore-Shop-Id", headers.get("x-genstore-shop-id")],
    ["X-Genstore-Shop-Domain", headers.get("x-genstore-shop-domain")],
  ];
  for (const [where, value] of candidates) if (value) return checkedShopId(value, where);
  return undefined;
}

/** The header naming a shop, which must agree with what was signed. */
function headerShop(headers: Headers): string | undefined {
  return headers.get("x-genstore-shop-id") || headers.get("x-genstore-shop-domain") || undefined;
}

/** An internal service's bearer token: its shops and its access decide. */
async function internal(opts: RequestGateOptions, token: InternalToken, req: GateRequest): Promise<Admitted> {
  const named = namedShop(req.rawQuery, req.headers) ?? (token.shops !== "*" && token.shops.length === 1 ? token.shops[0] : undefined);
  if (!named) throw invalidArgument("name the shop with the X-Genstore-Shop-Id header: this token serves several shops");
  if (token.shops !== "*" && !token.shops.includes(named)) {
    throw new PaymentError("permission_denied", `this token may not act for shop ${named}`, `internal token ${token.name} is not allowed shop ${named}`);
  }
  if (req.access === "write" && token.access !== "write") {
    throw new PaymentError("permission_denied", `this token is read-only: ${req.method} is not allowed`, `internal token ${token.name} is read-only`);
  }
  return { shop: await opts.shops.get(named), principal: { kind: "internal", name: token.name, access: token.access } };
}

/** The secret a shop's requests are signed with: its own, else the deployment's. */
function secretOf(opts: RequestGateOptions, shop: ShopConfig | undefined): string {
  const secret = shop?.genstoreClientSecret ?? opts.genstoreClientSecret;
  if (!secret) throw unauthenticated("this request is signed but no Genstore client secret is configured to check it");
  return secret;
}

function checkBody(req: GateRequest, signature: string | null, secret: string): void {
  if (signature !== null && !bodySignatureMatches(req.rawBody, signature, secret)) {
    throw unauthenticated("the X-Genstore-Hmac-Sha256 header does not match the body");
  }
}

/** A signed query: the shop is the one it names (the deployment's default when it names none). */
async function signedQuery(opts: RequestGateOptions, req: GateRequest, pairs: [string, string][], now: number): Promise<Admitted> {
  const signedShop = pairs.find(([k]) => k === "shopId")?.[1] ?? pairs.find(([k]) => k === "shop")?.[1];
  const shopId = signedShop === undefined ? opts.defaultShopId : checkedShopId(signedShop, "the signed shopId");
  const header = headerShop(req.headers);
  if (header !== undefined && header !== shopId) throw unauthenticated("the X-Genstore-Shop-Id header names another shop than the signed query");
  const shop = await opts.shops.find(shopId);
  const secret = secretOf(opts, shop);
  verifyQuerySignature(pairs, secret, now);
  checkBody(req, req.headers.get("x-genstore-hmac-sha256"), secret);
  return { shop: shop ?? (await opts.shops.get(shopId)), principal: { kind: "genstore", proof: "query" } };
}

/** Genstore's signature (or, in development, none): who the request is from and for which shop. */
async function genstore(opts: RequestGateOptions, req: GateRequest, now: number): Promise<Admitted> {
  // gRPC has no query string: there the signed query travels as X-Genstore-Query metadata.
  const urlPairs = queryPairs(req.rawQuery);
  const pairs = urlPairs.some(([k]) => k === "hmac") ? urlPairs : queryPairs(req.headers.get("x-genstore-query") ?? "");
  if (pairs.some(([k]) => k === "hmac")) return signedQuery(opts, req, pairs, now);
  const bodySignature = req.headers.get("x-genstore-hmac-sha256");
  if (bodySignature === null) {
    if (opts.requireSignature) throw unauthenticated(notSigned);
    return { shop: await opts.shops.get(namedShop(req.rawQuery, req.headers) ?? opts.defaultShopId), principal: { kind: "unsigned" } };
  }
  // Only the body is signed, so only a body says what is asked (the gateway keeps the path and
  // query to the body's values): an empty one, Connect's GET among them, would sign nothing.
  if (req.rawBody.length === 0) {
    throw unauthenticated("X-Genstore-Hmac-Sha256 over an empty body authorizes nothing: send the request's fields in the signed JSON body, or sign the query");
  }
  // It binds a shop only through that shop's own secret.
  const named = namedShop(req.rawQuery, req.headers);
  const shop = await opts.shops.find(named ?? opts.defaultShopId);
  checkBody(req, bodySignature, secretOf(opts, shop));
  if (named !== undefined && !shop?.genstoreClientSecret && opts.requireSignature) {
    throw unauthenticated(
      "the shop is named only by an unsigned header or parameter: sign the query (shopId, timestamp) or give the shop a client secret of its own",
    );
  }
  return { shop: shop ?? (await opts.shops.get(named ?? opts.defaultShopId)), principal: { kind: "genstore", proof: "body" } };
}

export function createRequestGate(opts: RequestGateOptions): RequestGate {
  const now = opts.now ?? Date.now;
  const ipBuckets = createTokenBuckets(opts.rateLimitPerIp * 2, opts.rateLimitPerIp, now);
  const shopBuckets = createTokenBuckets(opts.rateLimitPerShop * 2, opts.rateLimitPerShop, now);
  const tokens = new Map((opts.internalTokens ?? []).map((t) => [t.tokenSha256, t]));
  return {
    admitAddress: (address) => ipBuckets.take(address),

    async admit(req) {
      // Every payment request needs the database: during a known outage, say so without waiting on it.
      if (opts.databaseUp?.() === false) throw databaseUnavailable();
      const bearer = bearerOf(req.headers);
      let admitted: Admitted;
      if (bearer !== undefined) {
        const token = tokens.get(hashToken(bearer));
        if (!token) throw unauthenticated("the bearer token is not valid for PaymentService");
        admitted = await internal(opts, token, req);
      } else {
        admitted = await genstore(opts, req, now());
      }
      if (shopBuckets.take(admitted.shop.shopId) > 0) {
        throw new PaymentError("rate_limited", `too many requests for shop ${admitted.shop.shopId}; slow down and retry`);
      }
      return admitted;
    },

    admitOperator(headers) {
      if (!opts.adminToken) throw unauthenticated("internal services are disabled: set ADMIN_TOKEN");
      if (bearerOf(headers) === undefined && opts.consoleSession?.(headers)) return;
      const given = Buffer.from(bearerOf(headers) ?? "");
      const expected = Buffer.from(opts.adminToken);
      if (!safeEqual(given, expected)) throw unauthenticated("a valid operator bearer token is required");
    },
  };
}
