import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ShopService } from "../../gen/genstore/payment/v1/shop_service_pb";
import { startFakeGenstore, type FakeGenstore } from "./fakeGenstore";
import { createFakeGenstoreApp, nowSeconds, signQuery, webhookSignature, type FakeGenstoreApp } from "./fakeGenstoreApp";
import { cardBody } from "./payments";
import { startStripeEmulator, type StripeEmulator } from "./stripeEmulator";
import { postJson, startTestServer, withAdminToken, type TestServer } from "./testServer";

export { Code };

export const clientId = "app_test_client";
export const clientSecret = "app-client-secret-0123456789abcdef";
export const shopDomain = "acme.genmystore.com";
export const shopId = "acme-1001";

export interface OnboardingWorld {
  server: TestServer;
  genstore: FakeGenstore;
  app: FakeGenstoreApp;
  stripe: StripeEmulator;
  shops: Client<typeof ShopService>;
  /** A card payment for the onboarded shop, signed as Genstore signs it. */
  pay(paymentId: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** A webhook as Genstore sends it; unsigned when `sign` is false. */
  webhook(
    topic: string,
    body: Record<string, unknown>,
    opts?: { sign?: boolean; secret?: string; encoding?: "hex" | "base64"; headers?: Record<string, string> },
  ): Promise<Response>;
  stop(): Promise<void>;
}

/** A fake Genstore with OAuth, a stripe emulator, and the real service with onboarding on. */
export async function startOnboardingWorld(): Promise<OnboardingWorld> {
  const app = createFakeGenstoreApp({ clientId, clientSecret, shops: { [shopDomain]: shopId, "other.genmystore.com": "other-2002" } });
  const genstore = await startFakeGenstore(0, app.routes);
  const stripe = await startStripeEmulator(process.env.STRIPE_MOCK_URL!);
  const server = await startTestServer({
    onboarding: { clientId, shopUrlTemplate: `${genstore.url}/shops/{shop}`, shopDomains: ["*.genmystore.com"], scopes: ["read_payment", "write_payment"] },
    security: { genstoreClientSecret: clientSecret, requireSignature: true },
    stripe: { apiBase: stripe.url, maxNetworkRetries: 0 },
    callbacks: { pollMs: 100 },
  });
  const shops = createClient(ShopService, createGrpcTransport({ baseUrl: server.url, interceptors: [withAdminToken] }));
  return {
    server,
    genstore,
    app,
    stripe,
    shops,
    pay: (paymentId) =>
      postJson(
        `${server.url}/genstore/v1/payments/card?${signQuery(clientSecret, { shop: shopDomain, shopId, timestamp: nowSeconds() })}`,
        cardBody(server, paymentId),
      ),
    webhook(topic, body, o = {}) {
      const text = JSON.stringify(body);
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "x-genstore-topic": topic,
        "x-genstore-shop-domain": shopDomain,
        ...o.headers,
      };
      if (o.sign !== false) headers["x-genstore-hmac-sha256"] = webhookSignature(o.secret ?? clientSecret, text, o.encoding);
      return fetch(`${server.url}/genstore/webhooks`, { method: "POST", headers, body: text });
    },
    async stop() {
      await server.stop();
      await genstore.stop();
      await stripe.close();
    },
  };
}

/** Every document of every collection as one string, to search for secrets. */
export async function everyDocument(server: TestServer): Promise<string> {
  const parts: string[] = [];
  for (const c of await server.db.listCollections().toArray()) parts.push(JSON.stringify(await server.db.collection(c.name).find({}).toArray()));
  return parts.join("\n");
}
