import { randomBytes } from "node:crypto";
import { PspConfigurationError, WebhookSignatureError, type PspContext, type WebhookShop } from "../../src/psp/connector";
import { createStripeConnector, stripeCredentialProblems } from "../../src/psp/stripe/connector";
import { startStripeEmulator, type StripeEmulator } from "../helpers/stripeEmulator";

/** What only Stripe does, beyond the shared connector contract: errors, modes, currencies, webhooks. */
let emulator: StripeEmulator;
const connector = () => createStripeConnector({ apiBase: emulator.url, maxNetworkRetries: 1, timeoutMs: 5000 });
const testKey = `sk_test_${randomBytes(8).toString("hex")}`;
const liveKey = `sk_live_${randomBytes(8).toString("hex")}`;
const ctx: PspContext = { mode: "test", credentials: { secretKey: testKey }, shopId: "acme" };
const card = (number = "4242424242424242") => ({ number, expiryMonth: 12, expiryYear: 2031, cvv: "737", holderName: "A Buyer" });
const key = () => `gspay_${randomBytes(12).toString("base64url")}`;
const input = (minor = 1000, currency = "EUR", number?: string) => ({
  idempotencyKey: key(),
  amount: { minor, currency },
  capture: true,
  card: card(number),
  returnUrl: "http://127.0.0.1:9/r",
  description: "Genstore payment x",
});

beforeAll(async () => {
  emulator = await startStripeEmulator(process.env.STRIPE_MOCK_URL!);
});
afterAll(() => emulator.close());

describe("errors", () => {
  test("a revoked key is a configuration error for the operator, with nothing charged and no secret in it", async () => {
    const revoked = `sk_test_${randomBytes(8).toString("hex")}`;
    emulator.revokeKey(revoked);
    const err = await connector()
      .payWithCard({ ...ctx, credentials: { secretKey: revoked } }, input())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PspConfigurationError);
    const e = err as PspConfigurationError;
    expect(e.message).toBe("the payment provider refused this shop's credentials");
    expect(e.operatorMessage).toMatch(/Stripe refused the test secret key of shop acme \(HTTP 401\)/);
    expect(`${e.message} ${e.operatorMessage}`).not.toContain(revoked);
  });

  test("a key of the other mode is refused before anything is sent", async () => {
    const before = emulator.requests.length;
    await expect(connector().payWithCard({ ...ctx, mode: "live" }, input())).rejects.toBeInstanceOf(PspConfigurationError);
    await expect(connector().payWithCard({ ...ctx, credentials: {} }, input())).rejects.toThrow(/not configured/);
    expect(emulator.requests.length).toBe(before);
  });

  test("an outage (5xx after the SDK's retry) is unknown, and a payment Stripe never saw is declined only once search had time", async () => {
    emulator.failRequests(2, 503);
    const i = input();
    const outcome = await connector().payWithCard(ctx, i);
    expect(outcome).toMatchObject({ kind: "unknown", reason: expect.stringMatching(/api_error 503/) });
    expect(emulator.intentsWithKey(i.idempotencyKey)).toHaveLength(0);
    expect(await connector().paymentStatus(ctx, { idempotencyKey: i.idempotencyKey, createdAt: new Date() })).toMatchObject({ kind: "unknown" });
    const anHourAgo = new Date(Date.now() - 3_600_000);
    expect(await connector().paymentStatus(ctx, { idempotencyKey: i.idempotencyKey, createdAt: anHourAgo })).toMatchObject({
      kind: "absent",
      reason: expect.stringMatching(/never reached Stripe/),
    });
  });

  test("a card decline carries Stripe's buyer-safe text and decline code, and the PaymentIntent it created", async () => {
    const outcome = await connector().payWithCard(ctx, input(1000, "EUR", "4000000000009995"));
    expect(outcome).toMatchObject({
      kind: "declined",
      reason: "Your card has insufficient funds. (insufficient_funds)",
      reference: expect.stringMatching(/^pi_/),
    });
  });

  test("a refused operation fails with Stripe's explanation", async () => {
    const c = connector();
    const auth = await c.payWithCard(ctx, { ...input(), capture: false });
    const ref = (auth as { reference: string }).reference;
    const over = await c.capture(ctx, { idempotencyKey: key(), reference: ref, amount: { minor: 1001, currency: "EUR" } });
    expect(over).toEqual({ kind: "failed", reason: "Stripe refused the request: The amount to capture is greater than the amount capturable." });
  });

  test("failed 3-D Secure is a decline with the reason", async () => {
    const c = connector();
    const i = input(1000, "EUR", "4000000000003220");
    const first = await c.payWithCard(ctx, i);
    const ref = (first as { reference: string }).reference;
    emulator.authenticate(ref, false);
    expect(await c.paymentStatus(ctx, { idempotencyKey: i.idempotencyKey, reference: ref, createdAt: new Date() })).toMatchObject({
      kind: "declined",
      reason: "We are unable to authenticate your payment method. (payment_intent_authentication_failure)",
    });
  });
});

describe("modes and money", () => {
  test("live requests use the live key and create live objects", async () => {
    const outcome = await connector().payWithCard({ ...ctx, mode: "live", credentials: { secretKey: liveKey } }, input());
    const pi = emulator.intent((outcome as { reference: string }).reference);
    expect(pi).toMatchObject({ livemode: true, status: "succeeded" });
    expect(emulator.requests.filter((r) => r.apiKey === liveKey).map((r) => r.path)).toEqual(["/v1/payment_methods", "/v1/payment_intents"]);
  });

  test.each([
    [500, "JPY", 500, "jpy"],
    [5, "ISK", 500, "isk"],
    [5120, "KWD", 5120, "kwd"],
  ])("%i %s reaches Stripe as %i %s", async (minor, currency, amount, stripeCurrency) => {
    const outcome = await connector().payWithCard(ctx, input(minor, currency));
    expect(emulator.intent((outcome as { reference: string }).reference)).toMatchObject({ amount, currency: stripeCurrency });
  });

  test("an amount Stripe cannot take is declined with the rule, and nothing is sent", async () => {
    const before = emulator.requests.length;
    expect(await connector().payWithCard(ctx, input(5124, "KWD"))).toEqual({
      kind: "declined",
      reason: "Stripe takes KWD amounts in steps of 0.010 (the last digit must be 0)",
    });
    expect(emulator.requests.length).toBe(before);
  });
});

describe("offsite", () => {
  test("voiding an unpaid Checkout Session expires it, and its status then says the buyer did not pay", async () => {
    const c = connector();
    const k = key();
    const first = await c.payOffsite(ctx, {
      idempotencyKey: k,
      amount: { minor: 4200, currency: "EUR" },
      capture: false,
      returnUrl: "http://127.0.0.1:9/r",
      cancelUrl: "http://127.0.0.1:9/r?cancelled=1",
      description: "d",
    });
    const ref = (first as { reference: string }).reference;
    expect(ref).toMatch(/^cs_test_/);
    const voidKey = key();
    expect(await c.void(ctx, { idempotencyKey: voidKey, reference: ref })).toEqual({ kind: "succeeded", reference: ref });
    expect(await c.operationStatus(ctx, { kind: "void", idempotencyKey: voidKey, paymentReference: ref })).toEqual({ kind: "succeeded", reference: ref });
    expect(await c.paymentStatus(ctx, { idempotencyKey: k, reference: ref, createdAt: new Date() })).toMatchObject({
      kind: "declined",
      reason: expect.stringMatching(/did not complete/),
    });
  });

  test("an authorized Checkout payment is captured through its PaymentIntent", async () => {
    const c = connector();
    const first = await c.payOffsite(ctx, {
      idempotencyKey: key(),
      amount: { minor: 4200, currency: "EUR" },
      capture: false,
      returnUrl: "http://127.0.0.1:9/r",
      cancelUrl: "http://127.0.0.1:9/r?cancelled=1",
      description: "d",
    });
    const session = emulator.payCheckout((first as { reference: string }).reference);
    const cap = await c.capture(ctx, { idempotencyKey: key(), reference: session.id as string, amount: { minor: 4200, currency: "EUR" } });
    expect(cap).toEqual({ kind: "succeeded", reference: session.payment_intent });
    expect(emulator.intent(session.payment_intent as string)).toMatchObject({ status: "succeeded", amount_received: 4200 });
  });
});

describe("webhooks", () => {
  const testSecret = `whsec_${randomBytes(12).toString("hex")}`;
  const liveSecret = `whsec_${randomBytes(12).toString("hex")}`;
  const shop: WebhookShop = {
    shopId: "acme",
    testCredentials: { secretKey: testKey, webhookSecret: testSecret },
    liveCredentials: { secretKey: liveKey, webhookSecret: liveSecret },
  };
  const pi = (metadata: Record<string, string> = { genstore_key: "gspay_abc" }) => ({
    id: "pi_x",
    object: "payment_intent",
    status: "requires_capture",
    metadata,
  });
  const parse = (type: string, object: Record<string, unknown>, secret: string, livemode = false, to: WebhookShop | null = shop) => {
    const signed = emulator.signedEvent(type, object, secret, livemode);
    return connector().parseWebhook!(Buffer.from(signed.body), new Headers(signed.headers), to ?? undefined);
  };

  test("an event signed with the shop's test or live secret maps to an outcome of that mode", () => {
    expect(parse("payment_intent.amount_capturable_updated", pi(), testSecret)).toMatchObject({
      target: "payment",
      idempotencyKey: "gspay_abc",
      mode: "test",
      outcome: { kind: "authorized", reference: "pi_x" },
    });
    expect(parse("payment_intent.amount_capturable_updated", pi(), liveSecret, true)).toMatchObject({ mode: "live" });
    expect(
      parse(
        "refund.updated",
        { id: "re_1", object: "refund", status: "failed", failure_reason: "expired_or_canceled_card", metadata: { genstore_key: "gsref_1" } },
        testSecret,
      ),
    ).toMatchObject({
      target: "operation",
      outcome: { kind: "failed", reason: "Stripe could not refund: expired or canceled card" },
    });
  });

  test("a forged, misdirected or mode-swapped event is refused", () => {
    expect(() => parse("payment_intent.succeeded", pi(), `whsec_${randomBytes(12).toString("hex")}`)).toThrow(WebhookSignatureError);
    expect(() => parse("payment_intent.succeeded", pi(), testSecret, false, null)).toThrow(/webhooks\/\{shopId\}/);
    expect(() => parse("payment_intent.succeeded", pi(), testSecret, true)).toThrow(/live event signed with the shop's test secret/);
    const signed = emulator.signedEvent("payment_intent.succeeded", pi(), testSecret);
    const tampered = signed.body.replace("requires_capture", "succeeded");
    expect(() => connector().parseWebhook!(Buffer.from(tampered), new Headers(signed.headers), shop)).toThrow(WebhookSignatureError);
  });

  test("genuine events about nothing of ours are ignored, not refused", () => {
    expect(parse("customer.created", { id: "cus_1", object: "customer" }, testSecret)).toBeNull();
    expect(parse("payment_intent.succeeded", pi({}), testSecret)).toBeNull();
  });
});

test("credentials are checked per mode without echoing secrets", () => {
  expect(stripeCredentialProblems("test", {})).toEqual([]);
  expect(stripeCredentialProblems("test", { secretKey: testKey, webhookSecret: "whsec_abc" })).toEqual([]);
  const problems = stripeCredentialProblems("live", { secretKey: testKey, webhookSecret: "nope", merchantId: "m" });
  expect(problems).toEqual([
    "live credentials: unknown merchantId (Stripe takes secretKey and webhookSecret)",
    "live credentials: secretKey must be a Stripe live key (sk_live_… or rk_live_…)",
    "live credentials: webhookSecret must be a Stripe endpoint secret (whsec_…)",
  ]);
  expect(problems.join(" ")).not.toContain(testKey);
});
