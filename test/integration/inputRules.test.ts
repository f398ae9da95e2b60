import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { ShopService } from "../../gen/genstore/payment/v1/shop_service_pb";
import examples from "../fixtures/apiPageExamples.json";
import { createGrpcJsClient, grpcUnary } from "../helpers/grpcJsClient";
import { cardBody, genstoreClient, storedPayment, uniqueId } from "../helpers/payments";
import { createReturnLinks, returnLinkKey } from "../../src/server/auth/returnLinks";
import { countAllDocuments, postJson, startTestServer, testSecretsKey, withAdminToken, type TestServer } from "../helpers/testServer";

// Rules every request meets before anything is written: Genstore's ids, the shop's redirect
// hosts, the payment's mode, and production's refusal to let the sandbox answer a live payment.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ background: false });
  await server.addShop("strict", { redirectHosts: ["shop.example", "*.shop.example"] });
});
afterAll(async () => {
  await server.stop();
});

const offsite = (paymentId: string, returnUrl: string, cancelUrl?: string) => {
  const body = JSON.parse(examples.offsitePayment);
  body.paymentId = paymentId;
  body.paymentMethod.data = { returnUrl, ...(cancelUrl ? { cancelUrl } : {}) };
  return body;
};

describe("one rule for Genstore's ids", () => {
  const bad = ["..", ".", "a/b", "q?x=1", "frag#1", "100%", "back\\slash", "nul\u0000", "tab\there", " lead", "é", "x".repeat(129)];

  test.each(bad.map((id) => [JSON.stringify(id).slice(0, 24), id]))("paymentId %s is a 400 naming the field, nothing written", async (_shown, id) => {
    const before = await countAllDocuments(server.db);
    const res = await genstoreClient(server).pay(cardBody(server, id));
    expect(res).toEqual({
      status: 400,
      body: { error: 'paymentId must be 1-128 printable ASCII characters other than / ? # % \\ and spaces, and not "." or ".."' },
    });
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test("captureId, voidId and refundId follow the same rule; 128 characters of the allowed kind pass", async () => {
    const id = `${uniqueId("ID")}-!$&'()*+,;=:@[]^_\`{|}~`.padEnd(128, "z");
    expect((await genstoreClient(server).pay(cardBody(server, id, { manualCapture: true }))).status).toBe(200);
    const gs = genstoreClient(server);
    expect(await gs.capture(id, "1.00", "cap/1")).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^captureId must be/) } });
    expect(await gs.void(id, "..")).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^voidId must be/) } });
    expect(await gs.refund(id, "1.00", "r?1")).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^refundId must be/) } });
    expect((await storedPayment(server, id))?.state).toBe("authorized");
  });

  test("gRPC refuses them too", async () => {
    const client = createGrpcJsClient(PaymentService, `127.0.0.1:${server.port}`);
    try {
      await expect(grpcUnary(client, PaymentService.method.getPayment, { paymentId: "a/../b" })).rejects.toMatchObject({
        code: Code.InvalidArgument,
        details: expect.stringMatching(/^paymentId must be/),
      });
    } finally {
      client.close();
    }
  });
});

describe("redirect hosts", () => {
  test("returnUrl and cancelUrl must be on a host the shop allows; nothing is written otherwise", async () => {
    const gs = genstoreClient(server, "strict");
    const before = await countAllDocuments(server.db);
    expect(await gs.payOffsite(offsite(uniqueId("RD"), "https://evil.example/phish"))).toEqual({
      status: 400,
      body: { error: "paymentMethod.data.returnUrl has host evil.example, which this shop does not allow" },
    });
    expect(await gs.payOffsite(offsite(uniqueId("RD"), "https://shop.example/r", "https://shop.example.evil.example/c"))).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^paymentMethod\.data\.cancelUrl has host/) },
    });
    expect(await gs.payOffsite(offsite(uniqueId("RD"), "javascript:alert(1)"))).toMatchObject({
      status: 400,
      body: { error: "paymentMethod.data.returnUrl must be an http(s) URL" },
    });
    expect(await countAllDocuments(server.db)).toBe(before);
    expect((await gs.payOffsite(offsite(uniqueId("RD"), "https://pay.shop.example/r", "https://shop.example/c"))).status).toBe(200);
  });

  test.each([
    ["a line break", "https://shop.example/a\r\nSet-Cookie: x=1"],
    ["a tab", "https://shop.example/a\tb"],
    ["a NUL", "https://shop.example/a\u0000"],
  ])("a returnUrl with %s is a 400 naming the field, nothing written", async (_name, returnUrl) => {
    const before = await countAllDocuments(server.db);
    const card = cardBody(server, uniqueId("RD"));
    card.paymentMethod.data.returnUrl = returnUrl;
    const refused = { status: 400, body: { error: "paymentMethod.data.returnUrl must not contain control characters (line breaks, tabs)" } };
    expect(await genstoreClient(server, "strict").pay(card)).toEqual(refused);
    expect(await genstoreClient(server, "strict").payOffsite(offsite(uniqueId("RD"), returnUrl))).toEqual(refused);
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test("a returnUrl beyond ASCII is kept percent-encoded, and the buyer's return is sent there", async () => {
    const returnUrl = "https://shop.example/订单?x=1&name=Zoë\u2028";
    const encoded = "https://shop.example/%E8%AE%A2%E5%8D%95?x=1&name=Zo%C3%AB%E2%80%A8";
    const [cardId, offsiteId] = [uniqueId("RD"), uniqueId("RD")];
    const card = cardBody(server, cardId, { card: "4000000000003220" }); // 3-D Secure: the buyer comes back
    card.paymentMethod.data.returnUrl = returnUrl;
    expect((await genstoreClient(server, "strict").pay(card)).status).toBe(200);
    expect((await genstoreClient(server, "strict").payOffsite(offsite(offsiteId, returnUrl))).status).toBe(200);
    for (const id of [cardId, offsiteId]) {
      expect((await storedPayment(server, id))?.returnUrl).toBe(encoded);
      const back = await fetch(createReturnLinks(returnLinkKey(testSecretsKey), () => server.url).url("strict", id), { redirect: "manual" });
      expect([back.status, back.headers.get("location")]).toEqual([303, encoded]);
    }
  });

  test("operators set the list through ShopService, host names only", async () => {
    const shops = createClient(ShopService, createGrpcTransport({ baseUrl: server.url, interceptors: [withAdminToken] }));
    await expect(shops.updateShop({ shopId: "strict", settings: { redirectHosts: { hosts: ["https://x.example/"] } } })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    const { shop } = await shops.updateShop({
      shopId: "strict",
      settings: { redirectHosts: { hosts: ["shop.example", "*.shop.example", "checkout.partner.example"] } },
    });
    expect(shop?.redirectHosts).toEqual(["shop.example", "*.shop.example", "checkout.partner.example"]);
  });
});

test("a capture, void or refund whose test flag differs from the payment's mode changes nothing", async () => {
  const id = uniqueId("MD");
  await genstoreClient(server).pay(cardBody(server, id, { manualCapture: true, test: true }));
  const before = await storedPayment(server, id);
  const live = (path: string, body: Record<string, unknown>) => postJson(`${server.url}${path}`, { ...body, paymentId: id, test: "false" });
  for (const [path, body] of [
    ["/genstore/v1/captures", { captureId: uniqueId("C"), amount: "1.00" }],
    ["/genstore/v1/voids", { voidId: uniqueId("V") }],
  ] as const) {
    const res = await live(path, body);
    expect(res.body.error).toMatch(new RegExp(`^payment ${id} is a test payment: a (capture|void) with test=false cannot act on it$`));
  }
  expect(await storedPayment(server, id)).toEqual(before);
  expect(await server.db.collection("captures").countDocuments({ paymentId: id })).toBe(0);
});

describe("in production", () => {
  let prod: TestServer;
  beforeAll(async () => {
    prod = await startTestServer({ background: false, production: true });
  });
  afterAll(async () => {
    await prod.stop();
  });

  test("a live payment never reaches the sandbox, and a plain-http return URL is refused", async () => {
    const before = await countAllDocuments(prod.db);
    const live = await genstoreClient(prod).pay(cardBody(prod, uniqueId("PL"), { test: false }));
    expect(live.body.error).toBe("this shop's PSP sandbox moves no money and takes test payments only; live payments need a real PSP");
    const http = cardBody(prod, uniqueId("PH"));
    http.paymentMethod.data.returnUrl = "http://shop.example/r";
    expect(await genstoreClient(prod).pay(http)).toEqual({ status: 400, body: { error: "paymentMethod.data.returnUrl must be an https URL" } });
    expect(await countAllDocuments(prod.db)).toBe(before);
    // Test payments on the sandbox still work: that is what it is for.
    expect((await genstoreClient(prod).pay(cardBody(prod, uniqueId("PT"), { test: true }))).status).toBe(200);
  });
});
