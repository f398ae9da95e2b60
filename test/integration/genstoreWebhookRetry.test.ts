import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MongoClient } from "mongodb";
import type { Onboarding } from "../../src/onboarding/onboarding";
import { createGenstoreWebhookRoute } from "../../src/server/genstoreWebhookRoute";
import { sendJson } from "../../src/server/httpJson";
import { createWebhookEventRepository } from "../../src/store/webhookEventRepository";
import { webhookSignature } from "../helpers/fakeGenstoreApp";
import { waitFor } from "../helpers/waitFor";

// Genstore retries a webhook we failed to act on, with the same X-Genstore-Webhook-Id: the retry
// must act, not be answered as a duplicate. The route on a real HTTP server and the real
// webhook-id store; the onboarding it drives fails its first uninstall, as an outage would.
const secret = "cs_webhook_retry_0123456789";
let client: MongoClient;
let server: Server;
let url: string;
const deactivated: string[] = [];
let failNext = 0;
/** While set, an uninstall waits for it: the first delivery is still acting. */
let holdUninstall: Promise<void> | undefined;
/** The ids the route claimed, through the real store. */
const claimed: string[] = [];
const dbName = `webhook_retry_${Date.now()}`;

beforeAll(async () => {
  client = await new MongoClient(process.env.TEST_MONGODB_URI ?? "").connect();
  const onboarding = {
    shop: async () => null,
    async deactivate(shopId: string) {
      await holdUninstall;
      if (failNext > 0) {
        failNext--;
        throw new Error("the database went away");
      }
      deactivated.push(shopId);
      return null;
    },
  } as unknown as Onboarding;
  const route = createGenstoreWebhookRoute({
    onboarding,
    clientId: "app",
    clientSecret: secret,
    seen: (() => {
      const store = createWebhookEventRepository(client.db(dbName));
      return {
        ...store,
        claim: (id: string, key: string) => {
          claimed.push(id);
          return store.claim(id, key);
        },
      };
    })(),
    maxBodyBytes: 64 * 1024,
    redirectUri: () => "http://localhost/unused",
    log: () => {},
  });
  server = createServer((req, res) => void route(req, res).catch(() => sendJson(res, 500, { error: "internal error" })));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/genstore/webhooks`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await client.db(dbName).dropDatabase();
  await client.close();
});

const deliver = async (topic: string, webhookId: string, payload: Record<string, unknown>) => {
  const body = JSON.stringify(payload);
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-genstore-topic": topic,
      "x-genstore-webhook-id": webhookId,
      "x-genstore-hmac-sha256": webhookSignature(secret, body),
    },
    body,
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as Record<string, unknown> };
};
const uninstall = async (webhookId: string) => {
  const { retryAfter: _, ...answer } = await deliver("app/uninstalled", webhookId, { shopId: "retried-shop" });
  return answer;
};

test("an uninstall that failed is acted on when Genstore retries it; a second delivery after that is a duplicate", async () => {
  failNext = 1;
  expect(await uninstall("wh-retry-1")).toEqual({ status: 500, body: { error: "internal error" } });
  expect(deactivated).toEqual([]);
  expect(await uninstall("wh-retry-1")).toEqual({ status: 200, body: { received: true } });
  expect(deactivated).toEqual(["retried-shop"]);
  expect(await uninstall("wh-retry-1")).toEqual({ status: 200, body: { received: true, duplicate: true } });
  expect(deactivated).toEqual(["retried-shop"]);
});

test("a pushed code the route refuses is answered with its 400, and the id is free for the corrected retry", async () => {
  // This onboarding knows no Genstore API, so no shop domain is acceptable: the route refuses.
  const grant = { shopId: "pushed-shop", authCode: { clientId: "app", shopId: "pushed-shop", code: "code-1" } };
  const refused = await deliver("app/authorizationCodeGranted", "wh-code-1", grant);
  expect(refused).toEqual({ status: 400, retryAfter: null, body: { error: "X-Genstore-Shop-Domain names no Genstore shop domain" } });
  // Refused before its id was claimed: nothing was written, not even for a moment.
  expect(claimed).not.toContain("genstore-webhook:wh-code-1");
  const seen = await client
    .db(dbName)
    .collection("webhook_events")
    .countDocuments({ _id: "genstore-webhook:wh-code-1" as never });
  expect(seen).toBe(0);
});

test("a redelivery while the first still acts is told to come back (503, Retry-After), then answered as a duplicate", async () => {
  let letGo = () => {};
  holdUninstall = new Promise<void>((r) => (letGo = r));
  const first = uninstall("wh-busy-1");
  // The first delivery holds the id once its claim is written.
  const events = client.db(dbName).collection("webhook_events");
  await waitFor("the first delivery's claim", async () => (await events.countDocuments({ _id: "genstore-webhook:wh-busy-1" as never })) === 1, 10_000, 10);
  const second = await deliver("app/uninstalled", "wh-busy-1", { shopId: "retried-shop" });
  expect(second).toEqual({ status: 503, retryAfter: "5", body: { error: "this webhook is being acted on by an earlier delivery: retry later" } });
  holdUninstall = undefined;
  letGo();
  expect(await first).toEqual({ status: 200, body: { received: true } });
  expect(await uninstall("wh-busy-1")).toEqual({ status: 200, body: { received: true, duplicate: true } });
});
