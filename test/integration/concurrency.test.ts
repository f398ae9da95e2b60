import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { cardBody, genstoreClient, ledger, storedPayment, uniqueId } from "../helpers/payments";
import { startTestServer, type TestServer } from "../helpers/testServer";

// Races: duplicates and competing operations arriving at the same moment (decisions.md D6, D11).
let server: TestServer;
let gs: ReturnType<typeof genstoreClient>;
beforeAll(async () => {
  // A little PSP latency widens the race windows.
  server = await startTestServer({ sandbox: { latencyMs: 15, asyncDelayMs: 1000 } });
  gs = genstoreClient(server);
});
afterAll(async () => {
  await server.stop();
});

test("50 identical payment requests at once: one charge at the PSP and 50 identical answers", async () => {
  const id = uniqueId("PI");
  const body = cardBody(server, id, { manualCapture: false });
  const answers = await Promise.all(Array.from({ length: 50 }, () => gs.pay(body)));
  expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({ status: 200, body: { threeDsUrl: "", error: "" } })]));
  const p = await storedPayment(server, id);
  expect(p?.state).toBe("captured");
  expect(await ledger(server, { type: "charge", reference: p?.channelPaymentId })).toHaveLength(1);
  expect(await ledger(server, { type: "charge", key: `m-test-shop-test/${p?.idempotencyKey}` })).toHaveLength(1);
});

test("50 identical declined payments over gRPC and JSON at once: one PSP call, the same decline for all", async () => {
  const id = uniqueId("PI");
  const body = cardBody(server, id, { card: "4000000000009995" });
  const grpc = createClient(PaymentService, createGrpcTransport({ baseUrl: server.url }));
  const viaGrpc = { ...body, test: true, manualCapture: true };
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => (i % 2 ? gs.pay(body).then((r) => r.body.error) : grpc.createCardPayment(viaGrpc).then((r) => r.error))),
  );
  expect(new Set(answers)).toEqual(new Set(["insufficient funds"]));
  const p = await storedPayment(server, id);
  expect(await ledger(server, { key: `m-test-shop-test/${p?.idempotencyKey}` })).toHaveLength(1);
  expect((await ledger(server, { type: "charge", cardLast4: "9995" })).filter((c) => c.createdAt >= p?.createdAt)).toHaveLength(1);
});

test("20 different refunds at once whose sum exceeds the captured amount never refund more than was captured", async () => {
  const id = uniqueId("PI");
  await gs.pay(cardBody(server, id, { manualCapture: false, amount: "100.00" }));
  // On a busy machine a refund still waiting behind the others past the PSP budget is answered
  // 503 (not accepted yet, and it may yet be refused): Genstore retries it, as here.
  const refundIds = Array.from({ length: 20 }, () => uniqueId("R"));
  const answerOf = async (refundId: string) => {
    for (;;) {
      const a = await gs.refund(id, "7.00", refundId);
      if (a.status !== 503) return a;
    }
  };
  const answers = await Promise.all(refundIds.map(answerOf));
  const ok = answers.filter((a) => a.status === 200 && !a.body.error);
  const refused = answers.filter((a) => a.status === 200 && /exceeds the .* left to refund/.test(String(a.body.error)));
  expect(ok.length + refused.length).toBe(20);
  expect(ok).toHaveLength(14); // 14 × 7.00 = 98.00; a 15th would be 105.00
  const p = await storedPayment(server, id);
  expect(p).toMatchObject({ refundedMinor: 9800, refundableMinor: 200, refundReservedMinor: 0, refundsInFlight: [], state: "partially_refunded" });
  const refunds = await ledger(server, { type: "refund", chargeReference: p?.channelPaymentId, status: "succeeded" });
  expect(refunds.reduce((sum, r) => sum + r.amount, 0)).toBe(9800);
});

test("10 different captures at once: exactly one captures", async () => {
  const id = uniqueId("PI");
  await gs.pay(cardBody(server, id, { manualCapture: true, amount: "100.00" }));
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => gs.capture(id, `${50 + i}.00`)));
  const ok = answers.filter((a) => a.status === 200 && a.body.channelCaptureId);
  expect(ok).toHaveLength(1);
  expect(answers.filter((a) => a.status === 200 && a.body.channelCaptureId === "" && /already captured|in progress/.test(String(a.body.error)))).toHaveLength(
    9,
  );
  const p = await storedPayment(server, id);
  expect(p?.state).toBe("captured");
  expect(await ledger(server, { type: "capture", chargeReference: p?.channelPaymentId })).toHaveLength(1);
});

test("void racing capture: one of them wins, never both", async () => {
  for (let round = 0; round < 5; round++) {
    const id = uniqueId("PI");
    await gs.pay(cardBody(server, id, { manualCapture: true }));
    const [capture, voided] = await Promise.all([gs.capture(id, "200.00"), gs.void(id)]);
    const winners = [capture, voided].filter((a) => a.status === 200 && !a.body.error);
    expect(winners).toHaveLength(1);
    const p = await storedPayment(server, id);
    expect(["captured", "voided"]).toContain(p?.state);
    const effects = await ledger(server, { chargeReference: p?.channelPaymentId, status: "succeeded" });
    expect(effects).toHaveLength(1);
  }
});

test("gRPC sees a refused refund as FAILED_PRECONDITION", async () => {
  const id = uniqueId("PI");
  await gs.pay(cardBody(server, id, { manualCapture: true }));
  const grpc = createClient(PaymentService, createGrpcTransport({ baseUrl: server.url }));
  await expect(grpc.refundPayment({ refundId: uniqueId("R"), paymentId: id, amount: "1.00", test: true })).rejects.toMatchObject({
    code: Code.FailedPrecondition,
  });
});
