import examples from "../fixtures/apiPageExamples.json";
import { cardBody, genstoreClient, uniqueId } from "../helpers/payments";
import { countAllDocuments, startTestServer, type TestServer } from "../helpers/testServer";

// Every operation through every outcome, answered as Genstore's API page answers: HTTP 200 and
// exactly the documented keys, whatever happened; the keys are the test, not only the values.
let server: TestServer;
let slow: TestServer;
beforeAll(async () => {
  server = await startTestServer({ background: false });
  // A PSP slower than the budget: the answer comes first, the result later by callback.
  slow = await startTestServer({ background: false, pspTimeoutMs: 100, sandbox: { latencyMs: 2000, asyncDelayMs: 0 } });
});
afterAll(async () => {
  await Promise.all([server.stop(), slow.stop()]);
});

const keys = {
  card: ["error", "threeDsUrl"],
  offsite: ["error", "redirectUrl"],
  capture: ["channelCaptureId", "error"],
  void: ["channelVoidId", "error"],
  refund: ["channelRefundId", "error"],
  getPayment: ["channelPaymentId", "error", "status"],
  getRefund: ["channelRefundId", "error", "status"],
};

function shaped(res: { status: number; body: Record<string, unknown> }, kind: keyof typeof keys) {
  expect(res.status).toBe(200);
  expect(Object.keys(res.body).sort()).toEqual(keys[kind]);
  for (const v of Object.values(res.body)) expect(typeof v).toBe("string");
  return res.body;
}

const offsiteBody = (id: string) => ({ ...JSON.parse(examples.offsitePayment), paymentId: id });

test("card payment: approved, declined, 3-D Secure, PSP too slow, id reused", async () => {
  const gs = genstoreClient(server);
  expect(shaped(await gs.pay(cardBody(server, uniqueId("A"))), "card")).toEqual({ threeDsUrl: "", error: "" });
  expect(shaped(await gs.pay(cardBody(server, uniqueId("D"), { card: "4000000000000002" })), "card")).toEqual({ threeDsUrl: "", error: "card declined" });
  expect(shaped(await gs.pay(cardBody(server, uniqueId("S"), { card: "4000000000003220" })), "card").threeDsUrl).toMatch(/\/sandbox\/3ds\//);
  expect(shaped(await genstoreClient(slow).pay(cardBody(slow, uniqueId("T"))), "card")).toEqual({ threeDsUrl: "", error: "" });
  const id = uniqueId("R");
  await gs.pay(cardBody(server, id));
  expect(shaped(await gs.pay(cardBody(server, id, { amount: "1.00" })), "card").error).toMatch(/already received with different parameters/);
});

test("offsite payment: the hosted page, the PSP too slow (no error, like a card), id reused", async () => {
  const gs = genstoreClient(server);
  expect(shaped(await gs.payOffsite(offsiteBody(uniqueId("O"))), "offsite")).toEqual({
    redirectUrl: expect.stringMatching(/\/sandbox\/checkout\//),
    error: "",
  });
  expect(shaped(await genstoreClient(slow).payOffsite(offsiteBody(uniqueId("OT"))), "offsite")).toEqual({ redirectUrl: "", error: "" });
  const id = uniqueId("OR");
  await gs.payOffsite(offsiteBody(id));
  expect(shaped(await gs.payOffsite({ ...offsiteBody(id), amount: "1.00" }), "offsite").error).toMatch(/already received with different parameters/);
});

test("capture, void, refund: done, failed at the PSP, unknown payment, wrong state, over the amount, test/live mismatch; nothing changes on a refusal", async () => {
  const gs = genstoreClient(server);
  const auth = uniqueId("PA");
  await gs.pay(cardBody(server, auth, { manualCapture: true, amount: "100.00" }));
  const before = await countAllDocuments(server.db);
  expect(shaped(await gs.capture(auth, "100.01"), "capture").error).toMatch(/exceeds the authorized/);
  expect(shaped(await gs.refund(auth, "1.00"), "refund").error).toMatch(/cannot be refunded: it is authorized/);
  for (const [kind, res] of [
    ["capture", await gs.capture("nope", "1.00")],
    ["void", await gs.void("nope")],
    ["refund", await gs.refund("nope", "1.00")],
  ] as const)
    expect(shaped(res, kind)).toEqual({ [keys[kind][0]!]: "", error: "payment nope not found" });
  const mismatch = await fetch(`${server.url}/genstore/v1/voids`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ voidId: uniqueId("V"), paymentId: auth, test: false }),
  });
  expect(shaped({ status: mismatch.status, body: (await mismatch.json()) as Record<string, unknown> }, "void").error).toMatch(/is a test payment/);
  expect(await countAllDocuments(server.db)).toBe(before);
  expect(shaped(await gs.capture(auth, "100.00"), "capture")).toEqual({ channelCaptureId: expect.stringMatching(/^cp_/), error: "" });
  expect(shaped(await gs.refund(auth, "100.01"), "refund").error).toMatch(/exceeds the 100\.00 USD left to refund/);
  const refundId = uniqueId("RF");
  expect(shaped(await gs.refund(auth, "40.00", refundId), "refund")).toEqual({ channelRefundId: expect.stringMatching(/^rf_/), error: "" });
  expect(shaped(await gs.getRefund(refundId), "getRefund")).toEqual({ channelRefundId: expect.stringMatching(/^rf_/), status: "SUCCESS", error: "" });
  const failing = uniqueId("PF");
  await gs.pay(cardBody(server, failing, { card: "4000000000005126", manualCapture: false }));
  const failedRefund = uniqueId("RX");
  expect(shaped(await gs.refund(failing, "1.00", failedRefund), "refund").error).toMatch(/refund failed/);
  expect(shaped(await gs.getRefund(failedRefund), "getRefund")).toMatchObject({ status: "FAILURE", error: expect.stringMatching(/refund failed/) });
  const voided = uniqueId("PV");
  await gs.pay(cardBody(server, voided, { manualCapture: true }));
  expect(shaped(await gs.void(voided), "void")).toEqual({ channelVoidId: expect.stringMatching(/^vd_/), error: "" });
});

test("Get payment and Get refund: every status, and unknown ids as the page answers them", async () => {
  const gs = genstoreClient(server);
  const [ok, declined, waiting] = [uniqueId("G1"), uniqueId("G2"), uniqueId("G3")];
  await gs.pay(cardBody(server, ok));
  await gs.pay(cardBody(server, declined, { card: "4000000000009995" }));
  await gs.pay(cardBody(server, waiting, { card: "4000000000003220" }));
  expect(shaped(await gs.getPayment(ok), "getPayment")).toEqual({ channelPaymentId: expect.stringMatching(/^ch_/), status: "AUTH_SUCCESS", error: "" });
  expect(shaped(await gs.getPayment(declined), "getPayment")).toMatchObject({ status: "FAILURE", error: "insufficient funds" });
  expect(shaped(await gs.getPayment(waiting), "getPayment")).toMatchObject({ status: "PROCESSING", error: "" });
  expect(shaped(await gs.getPayment("never-seen"), "getPayment")).toEqual({
    channelPaymentId: "",
    status: "PROCESSING",
    error: "Not found payment information.",
  });
  expect(shaped(await gs.getRefund("never-seen"), "getRefund")).toEqual({ channelRefundId: "", status: "PROCESSING", error: "Not found refund information." });
});
