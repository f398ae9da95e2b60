import examples from "../fixtures/apiPageExamples.json";
import { cardBody, genstoreClient, ledger, sandboxBooks, storedPayment, uniqueId } from "../helpers/payments";
import { waitFor } from "../helpers/waitFor";
import { startTestServer, type TestServer } from "../helpers/testServer";

/** The shopper's choice on a sandbox page, as its form posts it; the redirect is not followed. */
const choose = (pageUrl: string, action: string) =>
  fetch(pageUrl, { method: "POST", body: `action=${action}`, headers: { "content-type": "application/x-www-form-urlencoded" }, redirect: "manual" });

// The payment lifecycle over Genstore's JSON routes against the sandbox PSP (decisions.md D5, D10).
let server: TestServer;
let gs: ReturnType<typeof genstoreClient>;
beforeAll(async () => {
  // Long enough for the PROCESSING checks below to come first on a loaded machine.
  server = await startTestServer({ sandbox: { latencyMs: 0, asyncDelayMs: 2000 } });
  gs = genstoreClient(server);
});
afterAll(async () => {
  await server.stop();
});

describe.each([
  [true, "authorized", "AUTH_SUCCESS"],
  [false, "captured", "SUCCESS"],
])("manualCapture %s", (manualCapture, approvedState, approvedStatus) => {
  test("4242424242424242 is approved", async () => {
    const id = uniqueId("PI");
    expect(await gs.pay(cardBody(server, id, { manualCapture: String(manualCapture) }))).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
    const p = await storedPayment(server, id);
    expect(p).toMatchObject({ state: approvedState, captureAtOnce: !manualCapture, authorizedMinor: 20000, capturedMinor: manualCapture ? 0 : 20000 });
    expect(await gs.getPayment(id)).toEqual({ status: 200, body: { status: approvedStatus, channelPaymentId: p?.channelPaymentId, error: "" } });
    const [charge] = await ledger(server, { reference: p?.channelPaymentId });
    expect(charge).toMatchObject({ status: approvedState, amount: 20000, currency: "USD", mode: "test", cardLast4: "4242" });
  });

  test.each([
    ["4000000000000002", "card declined"],
    ["4000000000009995", "insufficient funds"],
  ])("%s is declined: a 200 with the reason", async (card, reason) => {
    const id = uniqueId("PI");
    expect(await gs.pay(cardBody(server, id, { card, manualCapture }))).toEqual({ status: 200, body: { threeDsUrl: "", error: reason } });
    expect(await storedPayment(server, id)).toMatchObject({ state: "declined", error: reason });
    expect(await gs.getPayment(id)).toMatchObject({ status: 200, body: { status: "FAILURE", error: reason } });
  });

  test("4000000000003220 needs 3-D Secure; completing the challenge page approves it", async () => {
    const id = uniqueId("PI");
    const res = await gs.pay(cardBody(server, id, { card: "4000000000003220", manualCapture }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ threeDsUrl: expect.any(String), error: "" });
    const threeDsUrl = String(res.body.threeDsUrl);
    expect(threeDsUrl).toMatch(new RegExp(`^${server.url}/sandbox/3ds/ch_[0-9a-f]{24}\\?t=[\\w-]{22}$`));
    expect(await storedPayment(server, id)).toMatchObject({ state: "requires_action", actionUrl: threeDsUrl });
    expect((await gs.getPayment(id)).body.status).toBe("PROCESSING");

    // The page's address without its secret (the reference alone is no secret: Genstore shows it
    // as the channel payment id), or with another: not found, and nothing decided.
    const bare = threeDsUrl.split("?")[0]!;
    for (const guessed of [bare, `${bare}?t=${"A".repeat(22)}`, `${bare}?t=`]) {
      expect((await fetch(guessed)).status).toBe(404);
      const forged = await choose(guessed, "fail");
      expect([forged.status, forged.headers.get("location")]).toEqual([404, null]);
    }
    expect(await storedPayment(server, id)).toMatchObject({ state: "requires_action" });

    // The shopper's browser: the challenge page is a real form.
    const page = await fetch(threeDsUrl);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain('<form method="post"');
    expect(html).toContain("•••• 3220");
    expect(html).not.toContain("4000000000003220");
    const submitted = await choose(threeDsUrl, "complete");
    expect(submitted.status).toBe(303);
    const back = String(submitted.headers.get("location"));
    expect(back).toMatch(new RegExp(`^${server.url}/return/test-shop/${encodeURIComponent(id)}\\?t=[\\w-]{32}$`));
    const returned = await fetch(back, { redirect: "manual" });
    expect(returned.status).toBe(303);
    expect(returned.headers.get("location")).toBe("https://shop.example/pay/result");
    expect(await storedPayment(server, id)).toMatchObject({ state: approvedState });
    expect((await gs.getPayment(id)).body.status).toBe(approvedStatus);
  });

  test("4000000000000259 is PROCESSING, then approved after the sandbox's delay", async () => {
    const id = uniqueId("PI");
    expect(await gs.pay(cardBody(server, id, { card: "4000000000000259", manualCapture }))).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
    expect(await storedPayment(server, id)).toMatchObject({ state: "pending" });
    expect((await gs.getPayment(id)).body.status).toBe("PROCESSING");
    // The sandbox settles it after its delay (2 s here); Genstore polls until it does.
    await waitFor("Get payment to show the approval", async () => (await gs.getPayment(id)).body.status === approvedStatus, 10_000, 100);
    expect(await storedPayment(server, id)).toMatchObject({ state: approvedState });
  });

  test("4000000000000119 is a PSP error: unknown (PROCESSING) until the PSP is asked, which finds the charge", async () => {
    const id = uniqueId("PI");
    expect(await gs.pay(cardBody(server, id, { card: "4000000000000119", manualCapture }))).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
    const p = await storedPayment(server, id);
    expect(p).toMatchObject({ state: "unknown", channelPaymentId: "" });
    expect(p?.timeline.map((e: { event: string }) => e.event)).toEqual(["payment received", "psp: unknown"]);
    // Get payment asks the PSP by our idempotency key: the charge went through.
    expect((await gs.getPayment(id)).body.status).toBe(approvedStatus);
    expect(await ledger(server, { key: `m-test-shop-test/${p?.idempotencyKey}` })).toHaveLength(1);
  });

  test("4000000000005126 is approved, but its refunds fail with a readable error", async () => {
    const id = uniqueId("PI");
    expect(await gs.pay(cardBody(server, id, { card: "4000000000005126", manualCapture }))).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
    if (manualCapture) expect((await gs.capture(id, "200.00")).status).toBe(200);
    const refundId = uniqueId("R");
    const refund = await gs.refund(id, "10.00", refundId);
    expect(refund.status).toBe(200);
    expect(refund.body.error).toBe("refund failed: this test card refuses refunds");
    expect(await gs.getRefund(refundId)).toMatchObject({ status: 200, body: { status: "FAILURE", error: "refund failed: this test card refuses refunds" } });
    expect(await storedPayment(server, id)).toMatchObject({ state: "captured", refundableMinor: 20000, refundReservedMinor: 0, refundedMinor: 0 });
  });
});

test("a 3-D Secure charge booked before pages had secrets still opens by its reference alone", async () => {
  const id = uniqueId("PI");
  const res = await gs.pay(cardBody(server, id, { card: "4000000000003220", manualCapture: false }));
  const bare = String(res.body.threeDsUrl).split("?")[0]!;
  // The sandbox's entry as the version before wrote it: no page secret. Its shopper holds the
  // bare address, which must still lead to the challenge.
  const forgotten = await sandboxBooks(server.db).updateOne({ reference: bare.split("/").pop() }, { $unset: { pageToken: "" } });
  expect(forgotten.modifiedCount).toBe(1);
  expect((await fetch(bare)).status).toBe(200);
  const submitted = await choose(bare, "complete");
  expect(submitted.status).toBe(303);
  await waitFor("the challenge to approve the payment", async () => (await storedPayment(server, id))?.state === "captured", 10_000, 50);
  // Answered, it awaits no shopper: by its (public) reference alone it is not found any more.
  expect((await fetch(bare)).status).toBe(404);
});

test("a charge that never awaited its shopper has no page: its public reference alone opens nothing", async () => {
  const id = uniqueId("PI");
  const res = await gs.pay(cardBody(server, id, { manualCapture: false }));
  expect(res.body.threeDsUrl).toBe("");
  const reference = (await storedPayment(server, id))?.channelPaymentId;
  expect(reference).toMatch(/^ch_/);
  for (const kind of ["3ds", "checkout"]) {
    const page = await fetch(`${server.url}/sandbox/${kind}/${reference}`);
    expect(page.status).toBe(404);
    expect(await page.text()).not.toContain("captured");
  }
});

describe("authorize, capture, refund", () => {
  test("authorize → partial capture → refunds until fully refunded, with the GET answers at each step", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true, amount: "100.00" }));
    expect((await gs.getPayment(id)).body.status).toBe("AUTH_SUCCESS");
    const capture = await gs.capture(id, "80.00");
    expect(capture).toMatchObject({ status: 200, body: { channelCaptureId: expect.stringMatching(/^cp_/) } });
    expect((await gs.getPayment(id)).body.status).toBe("SUCCESS");
    expect(await storedPayment(server, id)).toMatchObject({ state: "captured", capturedMinor: 8000, refundableMinor: 8000 });

    const r1 = uniqueId("R");
    expect((await gs.refund(id, "30.00", r1)).status).toBe(200);
    expect(await gs.getRefund(r1)).toMatchObject({ body: { status: "SUCCESS" } });
    expect(await storedPayment(server, id)).toMatchObject({ state: "partially_refunded", refundedMinor: 3000, refundableMinor: 5000 });
    expect((await gs.getPayment(id)).body.status).toBe("SUCCESS");

    expect((await gs.refund(id, "50.00")).status).toBe(200);
    expect(await storedPayment(server, id)).toMatchObject({
      state: "refunded",
      refundedMinor: 8000,
      refundableMinor: 0,
      refundReservedMinor: 0,
      refundsInFlight: [],
    });
    expect((await gs.getPayment(id)).body.status).toBe("SUCCESS");
    const refunds = await ledger(server, { type: "refund", chargeReference: (await storedPayment(server, id))?.channelPaymentId });
    expect(refunds.map((r) => r.amount).sort()).toEqual([3000, 5000]);
  });

  test("a full capture of an authorized payment", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true, amount: "12.34" }));
    expect((await gs.capture(id, "12.34")).status).toBe(200);
    expect(await storedPayment(server, id)).toMatchObject({ state: "captured", capturedMinor: 1234 });
  });

  /** The payment without its outbox, which the callback dispatcher works on meanwhile. */
  async function paymentState(id: string) {
    const p = await storedPayment(server, id);
    if (!p) return p;
    const { callbacks: _callbacks, nextCallbackAt: _next, ...rest } = p;
    return rest;
  }

  /** Each refusal: a 200 whose error names the problem (as the API page answers), and the payment exactly as before. */
  async function refused(id: string, call: () => Promise<{ status: number; body: Record<string, unknown> }>, message: RegExp) {
    const before = await paymentState(id);
    const ledgerBefore = (await ledger(server)).length;
    const res = await call();
    expect(res.status).toBe(200);
    expect(res.body.error).toMatch(message);
    expect(await paymentState(id)).toEqual(before);
    expect((await ledger(server)).length).toBe(ledgerBefore);
  }

  test("over-capture, second capture, void after capture, refund above what is left, refund of an uncaptured payment", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true, amount: "50.00" }));
    await refused(id, () => gs.refund(id, "1.00"), /cannot be refunded: it is authorized \(not captured\)/);
    await refused(id, () => gs.capture(id, "50.01"), /capture of 50\.01 USD exceeds the authorized 50\.00 USD/);
    expect((await gs.capture(id, "40.00")).status).toBe(200);
    await refused(id, () => gs.capture(id, "10.00"), /is already captured/);
    await refused(id, () => gs.void(id), /cannot be voided: it is captured/);
    expect((await gs.refund(id, "25.00")).status).toBe(200);
    await refused(id, () => gs.refund(id, "15.01"), /refund of 15\.01 USD exceeds the 15\.00 USD left to refund/);
  });

  test("void of an authorized payment, then no capture", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true }));
    const v = await gs.void(id);
    expect(v).toMatchObject({ status: 200, body: { channelVoidId: expect.stringMatching(/^vd_/) } });
    expect(await storedPayment(server, id)).toMatchObject({ state: "voided" });
    const c = await gs.capture(id, "1.00");
    expect(c).toEqual({ status: 200, body: { channelCaptureId: "", error: expect.stringMatching(/cannot be captured: it is voided/) } });
  });

  test("amounts follow the currency: JPY has no decimals", async () => {
    const id = uniqueId("PI");
    expect((await gs.pay(cardBody(server, id, { manualCapture: false, amount: "1500", currency: "JPY" }))).status).toBe(200);
    expect(await storedPayment(server, id)).toMatchObject({ amount: { minor: 1500, currency: "JPY" }, capturedMinor: 1500 });
    // A well-formed amount that this payment's currency cannot carry: a refusal of this payment.
    const r = await gs.refund(id, "10.5");
    expect(r).toEqual({ status: 200, body: { channelRefundId: "", error: 'amount "10.5" has more decimals than JPY allows (0)' } });
  });

  test("a malformed amount is a 400 before the payment is looked up, whether it exists or not", async () => {
    const id = uniqueId("PI");
    expect((await gs.pay(cardBody(server, id, { manualCapture: true }))).status).toBe(200);
    for (const paymentId of ["missing", id]) {
      expect(await gs.capture(paymentId, "1e3")).toEqual({
        status: 400,
        body: { error: 'amount must be a positive decimal number such as "200.00", got "1e3"' },
      });
      expect(await gs.refund(paymentId, "0.00")).toEqual({ status: 400, body: { error: "amount must be greater than zero" } });
    }
  });

  test("capture, void and refund of an unknown payment: 200 with every field and the reason", async () => {
    expect(await gs.capture("missing", "1")).toEqual({ status: 200, body: { channelCaptureId: "", error: "payment missing not found" } });
    expect(await gs.void("missing")).toEqual({ status: 200, body: { channelVoidId: "", error: "payment missing not found" } });
    expect(await gs.refund("missing", "1")).toEqual({ status: 200, body: { channelRefundId: "", error: "payment missing not found" } });
  });
});

describe("idempotency", () => {
  test("the same paymentId with another amount gets an error and no PSP call", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true }));
    const charges = (await ledger(server, { type: "charge" })).length;
    const res = await gs.pay(cardBody(server, id, { manualCapture: true, amount: "199.99" }));
    expect(res).toEqual({
      status: 200,
      body: { threeDsUrl: "", error: `paymentId ${id} was already received with different parameters; use a new paymentId for a new attempt` },
    });
    expect((await ledger(server, { type: "charge" })).length).toBe(charges);
  });

  test("the same paymentId with another card gets an error; with the same card (new encryption) the same answer", async () => {
    const id = uniqueId("PI");
    expect(await gs.pay(cardBody(server, id, { card: "4000000000000002" }))).toEqual({ status: 200, body: { threeDsUrl: "", error: "card declined" } });
    expect(await gs.pay(cardBody(server, id, { card: "4000000000000002" }))).toEqual({ status: 200, body: { threeDsUrl: "", error: "card declined" } });
    expect((await gs.pay(cardBody(server, id, { card: "4242424242424242" }))).body.error).toMatch(/was already received with different parameters/);
  });

  test("a capture id reused with another amount gets an error; repeated, the same answer and one PSP capture", async () => {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true }));
    const captureId = uniqueId("C");
    const first = await gs.capture(id, "100.00", captureId);
    expect(await gs.capture(id, "100.00", captureId)).toEqual(first);
    expect((await gs.capture(id, "90.00", captureId)).body).toEqual({
      channelCaptureId: "",
      error: `captureId ${captureId} was already received with different parameters; use a new captureId for a new attempt`,
    });
    const charge = (await storedPayment(server, id))?.channelPaymentId;
    expect(await ledger(server, { type: "capture", chargeReference: charge })).toHaveLength(1);
  });
});

describe("offsite", () => {
  test("the hosted checkout: pay sends the buyer to Genstore's returnUrl and approves the payment", async () => {
    const id = uniqueId("PO");
    const body = JSON.parse(examples.offsitePayment);
    body.paymentId = id;
    body.manualCapture = "false";
    const res = await gs.payOffsite(body);
    const redirectUrl = String(res.body.redirectUrl);
    const html = await (await fetch(redirectUrl)).text();
    expect(html).toContain("100.80 USD");
    const paid = await choose(redirectUrl, "pay");
    const back = await fetch(String(paid.headers.get("location")), { redirect: "manual" });
    expect(back.headers.get("location")).toBe("https://www.xxx.shop/pay/result");
    expect((await gs.getPayment(id)).body.status).toBe("SUCCESS");
  });

  test("cancel on the hosted checkout sends the buyer to cancelUrl and fails the payment", async () => {
    const id = uniqueId("PO");
    const body = JSON.parse(examples.offsitePayment);
    body.paymentId = id;
    const redirectUrl = String((await gs.payOffsite(body)).body.redirectUrl);
    const cancelled = await choose(redirectUrl, "cancel");
    const back = await fetch(String(cancelled.headers.get("location")), { redirect: "manual" });
    expect(back.headers.get("location")).toBe("http://test.genstore.ai/xx");
    expect(await gs.getPayment(id)).toMatchObject({ body: { status: "FAILURE", error: "cancelled by the buyer" } });
  });

  test("a returnUrl that is not http(s) is refused", async () => {
    const body = JSON.parse(examples.offsitePayment);
    body.paymentId = uniqueId("PO");
    body.paymentMethod.data.returnUrl = "javascript:alert(1)";
    expect(await gs.payOffsite(body)).toEqual({ status: 400, body: { error: "paymentMethod.data.returnUrl must be an http(s) URL" } });
  });
});
