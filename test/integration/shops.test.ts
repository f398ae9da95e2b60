import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { toJsonString } from "@bufbuild/protobuf";
import { CreateShopResponseSchema, ShopService } from "../../gen/genstore/payment/v1/shop_service_pb";
import { cardBody, genstoreClient, ledger, storedPayment, uniqueId } from "../helpers/payments";
import { startTestServer, withAdminToken, type TestServer } from "../helpers/testServer";

// Tenancy (decisions.md D8): shops managed over the internal ShopService, secrets sealed at rest.
let server: TestServer;
let shops: ReturnType<typeof createClient<typeof ShopService>>;
beforeAll(async () => {
  server = await startTestServer();
  shops = createClient(ShopService, createGrpcTransport({ baseUrl: server.url, interceptors: [withAdminToken] }));
});
afterAll(async () => {
  await server.stop();
});

test("create, get, update and list shops; secrets are write-only and sealed in the database", async () => {
  const created = await shops.createShop({
    shopId: "acme",
    settings: {
      psp: "sandbox",
      testCredentials: { values: { merchantId: "acme-test", apiKey: "sk_test_SECRET_ONE" } },
      liveCredentials: { values: { merchantId: "acme-live", apiKey: "sk_live_SECRET_TWO" } },
      genstoreAccessToken: "gat_SECRET_THREE",
    },
  });
  expect(created.shop).toMatchObject({
    shopId: "acme",
    psp: "sandbox",
    testCredentialNames: ["apiKey", "merchantId"],
    liveCredentialNames: ["apiKey", "merchantId"],
    hasGenstoreAccessToken: true,
    callbackBaseUrl: "https://acme.genmystore.com",
    manualCaptureMeansAuthorizeOnly: true,
  });
  expect(toJsonString(CreateShopResponseSchema, created)).not.toMatch(/SECRET/);
  const raw = JSON.stringify(await server.db.collection("shops").findOne({ _id: "acme" as never }));
  expect(raw).not.toMatch(/SECRET|acme-test|acme-live/);

  await expect(shops.createShop({ shopId: "acme" })).rejects.toMatchObject({ code: Code.AlreadyExists });
  const updated = await shops.updateShop({ shopId: "acme", settings: { callbackBaseUrl: "https://acme.example/", manualCaptureMeansAuthorizeOnly: false } });
  expect(updated.shop).toMatchObject({
    callbackBaseUrl: "https://acme.example",
    manualCaptureMeansAuthorizeOnly: false,
    testCredentialNames: ["apiKey", "merchantId"],
  });
  expect((await shops.getShop({ shopId: "acme" })).shop?.callbackBaseUrl).toBe("https://acme.example");
  await expect(shops.getShop({ shopId: "nobody" })).rejects.toMatchObject({ code: Code.NotFound });
  await expect(shops.createShop({ shopId: "x", settings: { psp: "paypal" } })).rejects.toMatchObject({
    code: Code.InvalidArgument,
    rawMessage: "settings.psp must be one of sandbox, stripe",
  });

  await shops.createShop({ shopId: "beta" });
  await shops.createShop({ shopId: "gamma" });
  const page1 = await shops.listShops({ pageSize: 2 });
  expect(page1.shops.map((s) => s.shopId)).toEqual(["acme", "beta"]);
  const page2 = await shops.listShops({ pageSize: 2, pageToken: page1.nextPageToken });
  // The default shop from the environment ("test-shop") is listed in its place in id order.
  expect(page2.shops.map((s) => s.shopId)).toEqual(["gamma", "test-shop"]);
  expect(page2.nextPageToken).toBe("");
});

test("the default shop from the environment is listed and read, marked, until a stored shop takes its place", async () => {
  const listed = (await shops.listShops({ pageSize: 100 })).shops.filter((s) => s.shopId === "test-shop");
  expect(listed).toEqual([expect.objectContaining({ shopId: "test-shop", psp: "sandbox", fromEnvironment: true, hasGenstoreAccessToken: true })]);
  expect((await shops.getShop({ shopId: "test-shop" })).shop).toMatchObject({ fromEnvironment: true, testCredentialNames: ["merchantId"] });
  // On a page boundary: the last of a page, and never twice.
  const ids: string[] = [];
  for (let token = "", first = true; first || token; first = false) {
    const page = await shops.listShops({ pageSize: 1, pageToken: token });
    ids.push(...page.shops.map((s) => s.shopId));
    token = page.nextPageToken;
  }
  expect(ids.filter((id) => id === "test-shop")).toHaveLength(1);
  expect(ids).toEqual([...ids].sort());
  await expect(shops.updateShop({ shopId: "test-shop", settings: { psp: "stripe" } })).rejects.toMatchObject({
    code: Code.NotFound,
    rawMessage: "shop test-shop comes from the environment (DEFAULT_SHOP_*): change those settings, or use CreateShop to store one in its place",
  });

  await shops.createShop({ shopId: "test-shop", settings: { genstoreAccessToken: "" } });
  const after = (await shops.listShops({ pageSize: 100 })).shops.filter((s) => s.shopId === "test-shop");
  expect(after).toEqual([expect.objectContaining({ fromEnvironment: false, hasGenstoreAccessToken: false })]);
  expect((await shops.getShop({ shopId: "test-shop" })).shop?.fromEnvironment).toBe(false);
});

test("ShopService is not reachable through the Genstore JSON routes", async () => {
  const res = await fetch(`${server.url}/genstore/v1/shops`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
  expect(res.status).toBe(404);
});

test("two shops with different PSP credentials never see each other's payments", async () => {
  await shops.createShop({ shopId: "north", settings: { testCredentials: { values: { merchantId: "north-merchant" } } } });
  await shops.createShop({ shopId: "south", settings: { testCredentials: { values: { merchantId: "south-merchant" } } } });
  const north = genstoreClient(server, "north");
  const south = genstoreClient(server, "south");
  const id = uniqueId("PI");
  expect((await north.pay(cardBody(server, id, { manualCapture: true }))).status).toBe(200);
  expect((await north.getPayment(id)).body.status).toBe("AUTH_SUCCESS");
  expect(await south.getPayment(id)).toEqual({ status: 200, body: { channelPaymentId: "", status: "PROCESSING", error: "Not found payment information." } });
  expect((await south.capture(id, "1.00")).body).toEqual({ channelCaptureId: "", error: `payment ${id} not found` });
  expect((await south.refund(id, "1.00")).body).toEqual({ channelRefundId: "", error: `payment ${id} not found` });
  expect((await south.void(id)).body).toEqual({ channelVoidId: "", error: `payment ${id} not found` });
  // The charge went to north's merchant account at the PSP.
  const p = await storedPayment(server, id);
  expect(p?.shopId).toBe("north");
  expect(await ledger(server, { reference: p?.channelPaymentId })).toEqual([expect.objectContaining({ merchant: "north-merchant", mode: "test" })]);
});

test("manualCaptureMeansAuthorizeOnly=false reads manualCapture the API page's way", async () => {
  await shops.createShop({ shopId: "inverted", settings: { manualCaptureMeansAuthorizeOnly: false } });
  const id = uniqueId("PI");
  await genstoreClient(server, "inverted").pay(cardBody(server, id, { manualCapture: true }));
  expect(await storedPayment(server, id)).toMatchObject({ captureAtOnce: true, state: "captured" });
});

test("live requests use the live credentials", async () => {
  await shops.createShop({ shopId: "livemode", settings: { liveCredentials: { values: { merchantId: "live-merchant" } } } });
  const id = uniqueId("PI");
  await genstoreClient(server, "livemode").pay(cardBody(server, id, { test: false, manualCapture: true }));
  const p = await storedPayment(server, id);
  expect(await ledger(server, { reference: p?.channelPaymentId })).toEqual([expect.objectContaining({ merchant: "live-merchant", mode: "live" })]);
});
