import { randomBytes } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ShopService } from "../../gen/genstore/payment/v1/shop_service_pb";
import examples from "../fixtures/apiPageExamples.json";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { cardBody, genstoreClient, outboxDrained, storedPayment, uniqueId } from "../helpers/payments";
import { startStripeEmulator, type StripeEmulator } from "../helpers/stripeEmulator";
import { startTestServer, withAdminToken, type TestServer } from "../helpers/testServer";

// A shop configured with psp "stripe" through ShopService, paid through Genstore's JSON routes,
// with Stripe (stripe-mock + its state) behind the official SDK and a fake Genstore for callbacks.
let emulator: StripeEmulator;
let genstore: FakeGenstore;
let server: TestServer;
let shops: ReturnType<typeof createClient<typeof ShopService>>;
let gs: ReturnType<typeof genstoreClient>;
const shopId = "stripe-shop";
const creds = (mode: "test" | "live") => ({
  secretKey: `sk_${mode}_${randomBytes(8).toString("hex")}`,
  webhookSecret: `whsec_${randomBytes(12).toString("hex")}`,
});
const testCreds = creds("test");
const liveCreds = creds("live");

beforeAll(async () => {
  emulator = await startStripeEmulator(process.env.STRIPE_MOCK_URL!);
  genstore = await startFakeGenstore();
  // Reconciliation waits 3 s, so that webhooks are seen settling what is open before it does.
  server = await startTestServer({
    callbackBaseUrl: genstore.url,
    stripe: { apiBase: emulator.url, maxNetworkRetries: 0, timeoutMs: 3000 },
    reconcile: { intervalMs: 200, minAgeMs: 3000 },
  });
  shops = createClient(ShopService, createGrpcTransport({ baseUrl: server.url, interceptors: [withAdminToken] }));
  await shops.createShop({
    shopId,
    settings: {
      psp: "stripe",
      testCredentials: { values: testCreds },
      liveCredentials: { values: liveCreds },
      callbackBaseUrl: genstore.url,
      genstoreAccessToken: "gat_stripe",
    },
  });
  gs = genstoreClient(server, shopId);
  genstore.respondWith(() => ({ status: 200 }));
});
afterAll(async () => {
  await server.stop();
  await genstore.stop();
  await emulator.close();
});

const callbacksFor = (id: string) => genstore.acknowledged().filter((c) => JSON.stringify(c.body).includes(`"${id}"`));
const postWebhook = (path: string, signed: { body: string; headers: Record<string, string> }) =>
  fetch(`${server.url}${path}`, { method: "POST", headers: signed.headers, body: signed.body });

test("ShopService refuses Stripe credentials that cannot work, naming the problem but not the secret", async () => {
  const wrong = creds("test");
  await expect(shops.createShop({ shopId: "stripe-bad", settings: { psp: "stripe", liveCredentials: { values: wrong } } })).rejects.toMatchObject({
    code: Code.InvalidArgument,
    rawMessage: "settings for stripe: live credentials: secretKey must be a Stripe live key (sk_live_… or rk_live_…)",
  });
  await expect(shops.updateShop({ shopId, settings: { testCredentials: { values: { secretKey: "pk_test_publishable" } } } })).rejects.toMatchObject({
    code: Code.InvalidArgument,
  });
});

test("test payments use the shop's test key, live payments its live key, and Genstore hears each result", async () => {
  const testId = uniqueId("ST");
  const liveId = uniqueId("SL");
  expect(await gs.pay(cardBody(server, testId, { amount: "10.00", currency: "EUR", test: true, manualCapture: false }))).toEqual({
    status: 200,
    body: { threeDsUrl: "", error: "" },
  });
  expect(await gs.pay(cardBody(server, liveId, { amount: "12.00", currency: "EUR", test: false, manualCapture: false }))).toEqual({
    status: 200,
    body: { threeDsUrl: "", error: "" },
  });
  const [t, l] = [await storedPayment(server, testId), await storedPayment(server, liveId)];
  expect(emulator.intent(t?.channelPaymentId)).toMatchObject({ livemode: false, amount: 1000, status: "succeeded" });
  expect(emulator.intent(l?.channelPaymentId)).toMatchObject({ livemode: true, amount: 1200, status: "succeeded" });
  expect(new Set(emulator.requests.filter((r) => r.apiKey === testCreds.secretKey).map((r) => r.path))).toContain("/v1/payment_intents");
  expect(new Set(emulator.requests.filter((r) => r.apiKey === liveCreds.secretKey).map((r) => r.path))).toContain("/v1/payment_intents");
  await genstore.waitFor(() => callbacksFor(testId).length >= 1 && callbacksFor(liveId).length >= 1);
  expect(callbacksFor(testId)[0]).toMatchObject({ token: "gat_stripe", body: { paymentId: testId, status: true, channelPaymentId: t?.channelPaymentId } });
});

test("manual capture, a partial capture and two refunds reach Stripe with its ids", async () => {
  const id = uniqueId("SM");
  await gs.pay(cardBody(server, id, { amount: "50.00", currency: "EUR", test: true, manualCapture: true }));
  const pi = (await storedPayment(server, id))?.channelPaymentId as string;
  expect(emulator.intent(pi)).toMatchObject({ status: "requires_capture", capture_method: "manual" });
  expect(await gs.capture(id, "30.00")).toEqual({ status: 200, body: { channelCaptureId: pi, error: "" } });
  const r1 = await gs.refund(id, "10.00");
  const r2 = await gs.refund(id, "20.00");
  expect([r1.body.error, r2.body.error]).toEqual(["", ""]);
  expect(r1.body.channelRefundId).toMatch(/^re_/);
  expect(emulator.intent(pi)).toMatchObject({ amount_received: 3000 });
  expect(emulator.refundsOf(pi).map((r) => r.amount)).toEqual([1000, 2000]);
  expect((await gs.getPayment(id)).body).toMatchObject({ channelPaymentId: pi });
});

test("3-D Secure: Stripe's redirect is the threeDsUrl; the signed webhook at the shop's URL captures the payment once", async () => {
  const id = uniqueId("S3");
  const answer = await gs.pay(cardBody(server, id, { card: "4000000000003220", amount: "20.00", currency: "EUR", test: true, manualCapture: false }));
  expect(answer.body.threeDsUrl).toMatch(new RegExp(`^${emulator.url}/3ds/pi_`));
  const pi = (await storedPayment(server, id))?.channelPaymentId as string;
  // Stripe sends the buyer back to our return endpoint, the one the PaymentIntent was given.
  expect(emulator.intent(pi)?.next_action).toMatchObject({
    redirect_to_url: { return_url: expect.stringMatching(new RegExp(`^${server.url}/return/${shopId}/${id}\\?t=[\\w-]{32}$`)) },
  });

  const event = emulator.signedEvent("payment_intent.succeeded", emulator.authenticate(pi), testCreds.webhookSecret);
  expect((await postWebhook(`/psp/stripe/webhooks/${shopId}`, { ...event, headers: { ...event.headers, "stripe-signature": "t=1,v1=00" } })).status).toBe(401);
  expect((await postWebhook(`/psp/stripe/webhooks/test-shop`, event)).status).toBe(404);
  expect((await postWebhook(`/psp/stripe/webhooks`, event)).status).toBe(401);
  const res = await postWebhook(`/psp/stripe/webhooks/${shopId}`, event);
  expect(res.status).toBe(200);
  expect(await (await postWebhook(`/psp/stripe/webhooks/${shopId}`, event)).json()).toEqual({ received: true, duplicate: true });
  expect((await storedPayment(server, id))?.state).toBe("captured");
  await genstore.waitFor(() => callbacksFor(id).length >= 1);
  await outboxDrained(server, id);
  expect(callbacksFor(id).map((c) => c.body)).toEqual([{ paymentId: id, status: true, channelPaymentId: pi }]);
});

test("a test-mode event never moves a live payment", async () => {
  const id = uniqueId("SX");
  await gs.pay(cardBody(server, id, { card: "4000000000003220", amount: "20.00", currency: "EUR", test: false, manualCapture: false }));
  const pi = (await storedPayment(server, id))?.channelPaymentId as string;
  const forged = emulator.signedEvent("payment_intent.succeeded", { ...emulator.intent(pi), status: "succeeded", livemode: false }, testCreds.webhookSecret);
  expect((await postWebhook(`/psp/stripe/webhooks/${shopId}`, forged)).status).toBe(200);
  expect((await storedPayment(server, id))?.state).toBe("requires_action");
  expect(server.logs).toContainEqual(expect.objectContaining({ msg: "webhook applied", shopId, result: "unknown payment" }));
});

test("a revoked key: Genstore gets a declined payment with a plain reason, the operator log says what to fix", async () => {
  const revokedShop = "stripe-revoked";
  const revoked = creds("test");
  await shops.createShop({ shopId: revokedShop, settings: { psp: "stripe", testCredentials: { values: revoked }, callbackBaseUrl: genstore.url } });
  emulator.revokeKey(revoked.secretKey);
  const id = uniqueId("SR");
  const answer = await genstoreClient(server, revokedShop).pay(cardBody(server, id, { amount: "10.00", currency: "EUR", test: true }));
  expect(answer).toEqual({ status: 200, body: { threeDsUrl: "", error: "the payment provider refused this shop's credentials" } });
  const entry = server.logs.find((e) => e.msg === "PSP refused the shop's configuration" && e.shopId === revokedShop);
  expect(entry?.error).toMatch(/Stripe refused the test secret key of shop stripe-revoked \(HTTP 401\).*ShopService\.UpdateShop/);
  expect(JSON.stringify(server.logs)).not.toContain(revoked.secretKey);
});

test("one lost answer: the SDK's retry with the same key gets Stripe's replay, one charge", async () => {
  const id = uniqueId("SL1");
  emulator.loseAnswers(1, "/v1/payment_intents");
  await gs.pay(cardBody(server, id, { amount: "15.00", currency: "EUR", test: true, manualCapture: false }));
  const p = await storedPayment(server, id);
  expect(p).toMatchObject({ state: "captured" });
  expect((p?.timeline as { event: string }[]).map((e) => e.event)).toEqual(["payment received", "psp: approved"]);
  // Two POSTs with one key (the reconciler's GETs for other payments run meanwhile).
  expect(
    emulator.requests
      .filter((r) => r.method === "POST" && r.path === "/v1/payment_intents")
      .slice(-2)
      .map((r) => r.status),
  ).toEqual([200, 200]);
  expect(emulator.intentsWithKey(p?.idempotencyKey)).toHaveLength(1);
});

test("every answer lost after Stripe charged: unknown, then reconciliation finds it by key and Genstore hears success once", async () => {
  const id = uniqueId("SL2");
  // The first answer and the SDK's own retry of a closed connection.
  emulator.loseAnswers(2, "/v1/payment_intents");
  expect((await gs.pay(cardBody(server, id, { amount: "15.00", currency: "EUR", test: true, manualCapture: false }))).status).toBe(200);
  await genstore.waitFor(() => callbacksFor(id).length >= 1, 10_000);
  const p = await storedPayment(server, id);
  expect(p).toMatchObject({ state: "captured", channelPaymentId: expect.stringMatching(/^pi_/) });
  const events = (p?.timeline as { event: string }[]).map((e) => e.event);
  expect(events.slice(0, 2)).toEqual(["payment received", "psp: unknown"]);
  expect(events).toContain("psp status: approved");
  expect(emulator.intentsWithKey(p?.idempotencyKey)).toHaveLength(1);
  expect(emulator.requests.some((r) => r.path === "/v1/payment_intents/search" && r.mockStatus === 200)).toBe(true);
  await outboxDrained(server, id);
  expect(callbacksFor(id).map((c) => c.body)).toEqual([{ paymentId: id, status: true, channelPaymentId: p?.channelPaymentId }]);
});

describe("refund webhooks", () => {
  const refunded = async (id: string) => {
    await gs.pay(cardBody(server, id, { amount: "30.00", currency: "EUR", test: true, manualCapture: false }));
    return (await storedPayment(server, id))?.channelPaymentId as string;
  };

  test("a refund whose answers were lost is settled by Stripe's refund.updated, and Genstore hears it once", async () => {
    const id = uniqueId("SW");
    const pi = await refunded(id);
    emulator.loseAnswers(2, "/v1/refunds");
    const refundId = uniqueId("R");
    await gs.refund(id, "12.00", refundId);
    expect((await gs.getRefund(refundId)).body).toMatchObject({ status: "PROCESSING" });
    const [refund] = emulator.refundsOf(pi);
    const event = emulator.signedEvent("refund.updated", refund!, testCreds.webhookSecret);
    expect((await postWebhook(`/psp/stripe/webhooks/${shopId}`, event)).status).toBe(200);
    expect(server.logs).toContainEqual(expect.objectContaining({ msg: "webhook applied", event: JSON.parse(event.body).id, result: "applied" }));
    expect((await gs.getRefund(refundId)).body).toEqual({ channelRefundId: refund!.id, status: "SUCCESS", error: "" });
    await genstore.waitFor(() => callbacksFor(refundId).length >= 1);
    expect(callbacksFor(refundId).map((c) => c.body)).toEqual([expect.objectContaining({ refundId, status: true })]);
  });

  test("a refund that fails after it succeeded (Stripe's 5126 case) is logged for the operator, the reported result stays", async () => {
    const id = uniqueId("SF");
    const pi = await refunded(id);
    const refundId = uniqueId("R");
    expect((await gs.refund(id, "5.00", refundId)).body.error).toBe("");
    const [refund] = emulator.refundsOf(pi);
    const event = emulator.signedEvent("refund.updated", emulator.failRefund(refund!.id as string, "expired_or_canceled_card"), testCreds.webhookSecret);
    expect((await postWebhook(`/psp/stripe/webhooks/${shopId}`, event)).status).toBe(200);
    expect(server.logs).toContainEqual(
      expect.objectContaining({
        level: "error",
        msg: "the PSP reports a refund failed after it succeeded; Genstore was told it succeeded",
        id: refundId,
        reason: "Stripe could not refund: expired or canceled card",
      }),
    );
    expect((await gs.getRefund(refundId)).body).toMatchObject({ status: "SUCCESS" });
  });
});

describe("offsite through Stripe Checkout", () => {
  const offsite = async (id: string) => {
    const body = JSON.parse(examples.offsitePayment);
    Object.assign(body, { paymentId: id, test: true, manualCapture: "false", amount: "42.00", currency: "EUR" });
    const res = await gs.payOffsite(body);
    const session = emulator.session((await storedPayment(server, id))?.channelPaymentId as string);
    return { redirectUrl: String(res.body.redirectUrl), session: session!, genstoreUrls: body.paymentMethod.data as { returnUrl: string; cancelUrl: string } };
  };

  test("the buyer pays: back through our return endpoint to Genstore's returnUrl, payment captured", async () => {
    const id = uniqueId("SO");
    const { redirectUrl, session, genstoreUrls } = await offsite(id);
    expect(redirectUrl).toBe(`${emulator.url}/checkout/${session.id as string}`);
    expect(session).toMatchObject({
      amount_total: 4200,
      currency: "eur",
      success_url: expect.stringMatching(new RegExp(`^${server.url}/return/${shopId}/${id}\\?t=[\\w-]{32}$`)),
    });
    emulator.payCheckout(session.id as string);
    const back = await fetch(session.success_url as string, { redirect: "manual" });
    expect(back.headers.get("location")).toBe(genstoreUrls.returnUrl);
    expect(await storedPayment(server, id)).toMatchObject({ state: "captured" });
    expect((await gs.getPayment(id)).body.status).toBe("SUCCESS");
  });

  test("the buyer cancels on Checkout: the session is expired at Stripe, the payment fails, the buyer goes to cancelUrl", async () => {
    const id = uniqueId("SC");
    const { session, genstoreUrls } = await offsite(id);
    expect(session.cancel_url).toBe(`${String(session.success_url)}&cancelled=1`);
    const back = await fetch(session.cancel_url as string, { redirect: "manual" });
    expect(back.headers.get("location")).toBe(genstoreUrls.cancelUrl);
    expect(emulator.session(session.id as string)?.status).toBe("expired");
    expect(await gs.getPayment(id)).toMatchObject({ body: { status: "FAILURE", error: "cancelled by the buyer on the payment page" } });
    await genstore.waitFor(() => callbacksFor(id).length >= 1);
    expect(callbacksFor(id)[0]?.body).toMatchObject({ paymentId: id, status: false });
  });
});

test("after every Stripe flow above, no card number is in a log line or a stored document", async () => {
  const stored: unknown[] = [];
  for (const c of await server.db.listCollections().toArray()) stored.push(...(await server.db.collection(c.name).find().toArray()));
  const text = JSON.stringify([server.logs, stored, genstore.calls]);
  expect(text.length).toBeGreaterThan(10_000);
  for (const pan of ["4242424242424242", "4000000000003220", "424242424242", "400000000000"]) expect(text).not.toContain(pan);
});

describe("the order Genstore sends reaches Stripe (every request passed stripe-mock's validation)", () => {
  const sent = (path: string, after: number) => emulator.requests.slice(after).filter((r) => r.method === "POST" && r.path === path);

  test("a card payment: billing details on the PaymentMethod, shipping on the PaymentIntent, no receipt unless the shop asks", async () => {
    const before = emulator.requests.length;
    const id = uniqueId("SB");
    expect((await gs.pay(cardBody(server, id, { amount: "20.00", currency: "EUR", test: true, manualCapture: false }))).body.error).toBe("");
    const [pm] = sent("/v1/payment_methods", before);
    const [pi] = sent("/v1/payment_intents", before);
    expect(pm).toMatchObject({ mockStatus: 200 });
    expect(pi).toMatchObject({ mockStatus: 200 });
    // The API page's example order: the billing address, e-mail and phone, the cardholder's name.
    expect(pm!.params).toMatchObject({
      "billing_details[name]": "John Smith",
      "billing_details[email]": "xxx@gmail.com",
      "billing_details[phone]": "+8615885555",
      "billing_details[address][line1]": "2063  Marshville Road",
      "billing_details[address][line2]": "Apartment 5",
      "billing_details[address][city]": "Westbury",
      "billing_details[address][state]": "NY",
      "billing_details[address][postal_code]": "10013",
      "billing_details[address][country]": "US",
    });
    expect(pi!.params).toMatchObject({
      "shipping[name]": "John Smith",
      "shipping[phone]": "+8615885555",
      "shipping[address][line1]": "2063  Marshville Road",
      "shipping[address][city]": "Westbury",
      "shipping[address][country]": "US",
    });
    expect(pi!.params["receipt_email"]).toBeUndefined();
    // Nothing of the card but what Stripe needs once: the number is in the PaymentMethod call only.
    expect(JSON.stringify(pi!.params)).not.toContain("4242424242424242");
  });

  test("offsite: the order's items, tax and the rest as Checkout lines adding up to the amount; shipping and the buyer's e-mail", async () => {
    const shops = createClient(ShopService, createGrpcTransport({ baseUrl: server.url, interceptors: [withAdminToken] }));
    await shops.updateShop({ shopId, settings: { sendReceiptEmail: true } });
    const before = emulator.requests.length;
    const id = uniqueId("SI");
    const body = JSON.parse(examples.offsitePayment);
    Object.assign(body, { paymentId: id, test: true, manualCapture: "false" });
    expect((await gs.payOffsite(body)).body.error).toBe("");
    const [cs] = sent("/v1/checkout/sessions", before);
    expect(cs).toMatchObject({ mockStatus: 200 });
    // 100.80 USD: the example's items (2 × 1.00), its tax (5.50), and 93.30 its breakdown leaves out.
    expect(cs!.params).toMatchObject({
      "line_items[0][price_data][product_data][name]": "Black Cotton T-Shirt and White Denim Shorts",
      "line_items[0][price_data][product_data][images][0]": "http://xx.com",
      "line_items[0][price_data][unit_amount]": "100",
      "line_items[0][quantity]": "2",
      "line_items[1][price_data][product_data][name]": "Tax",
      "line_items[1][price_data][unit_amount]": "550",
      "line_items[2][price_data][product_data][name]": "Other charges",
      "line_items[2][price_data][unit_amount]": "9330",
      customer_email: "xx@gmail.com",
      "payment_intent_data[shipping][name]": "John Smith",
      "payment_intent_data[shipping][address][line1]": "2063  Marshville Road",
      "payment_intent_data[receipt_email]": "xx@gmail.com",
    });
    expect(emulator.session((await storedPayment(server, id))?.channelPaymentId as string)).toMatchObject({ amount_total: 10080 });
    await shops.updateShop({ shopId, settings: { sendReceiptEmail: false } });
  });
});
