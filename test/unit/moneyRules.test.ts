import { randomBytes } from "node:crypto";
import { createCardDecryptor } from "../../src/crypto/cardDecryptor";
import { generateCardKeyPem, parsePrivateKey } from "../../src/crypto/keyring";
import { canMove, openStates } from "../../src/payments/stateMachine";
import { genstorePaymentStatus } from "../../src/payments/status";
import { createPaymentUseCases } from "../../src/payments/use-cases/index";
import type { PaymentUseCaseDeps } from "../../src/payments/use-cases/kernel";
import { createKeyedMutex } from "../../src/runtime/keyedMutex";
import { requestHash } from "../../src/payments/use-cases/startPayment";
import { createConnectorRegistry } from "../../src/psp/registry";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { createMemoryPaymentRepository, createMemoryShops } from "../helpers/memoryRepositories";
import { createScriptedConnector, scriptedMeta, scriptedShop } from "../helpers/scriptedConnector";

// The money rules and the state machine through the real use cases, over in-memory repositories
// and a scripted PSP: milliseconds per test, no database.
const key = parsePrivateKey(generateCardKeyPem(), "unit");
const shop = scriptedShop;
const at = shop.createdAt;
const meta = scriptedMeta;

function setup(now?: () => Date, extra: Partial<PaymentUseCaseDeps> = {}) {
  const repository = createMemoryPaymentRepository();
  const psp = createScriptedConnector();
  const useCases = createPaymentUseCases({
    repository,
    shops: createMemoryShops([shop]),
    connectors: createConnectorRegistry([psp.connector]),
    cards: createCardDecryptor({ keys: [key], source: "unit" }, { fingerprintKey: randomBytes(32) }),
    returnLink: (s, p) => `https://pay.example/return/${s}/${p}`,
    pspTimeoutMs: 1000,
    log: () => {},
    ...(now ? { now } : {}),
    ...extra,
  });
  const pay = (paymentId: string, amount = "100.00", manualCapture = true, card = "4242424242424242") =>
    useCases.createCardPayment(meta, {
      paymentId,
      amount,
      currency: "USD",
      test: true,
      manualCapture,
      packet: encryptLikeGenstore(key.publicKeySpki, testCard(card)),
    });
  const op = (id: string, paymentId: string, amount?: string, test = true) => ({ id, paymentId, test, ...(amount ? { amount } : {}) });
  return { repository, psp, useCases, pay, op };
}

test("captures: at most the authorized amount, once; a void after a capture is refused", async () => {
  const { useCases, pay, op, psp } = setup();
  await pay("P1");
  await expect(useCases.capturePayment(meta, op("C0", "P1", "100.01"))).rejects.toThrow("capture of 100.01 USD exceeds the authorized 100.00 USD");
  expect(await useCases.capturePayment(meta, op("C1", "P1", "60.00"))).toEqual({ channelId: "op_1", error: "" });
  await expect(useCases.capturePayment(meta, op("C2", "P1", "1.00"))).rejects.toThrow("is already captured");
  await expect(useCases.voidPayment(meta, op("V1", "P1"))).rejects.toThrow("cannot be voided: it is captured");
  expect(psp.calls.filter((c) => c.call === "capture").map((c) => c.minor)).toEqual([6000]);
});

test("refunds: several, never above what was captured, failures give the amount back", async () => {
  const { useCases, pay, op, psp, repository } = setup();
  psp.answers.payment = { kind: "approved", reference: "ch_3" };
  await pay("P3", "50.00", false);
  await useCases.refundPayment(meta, op("R1", "P3", "20.00"));
  await expect(useCases.refundPayment(meta, op("R1b", "P3", "30.01"))).rejects.toThrow("refund of 30.01 USD exceeds the 30.00 USD left to refund");
  psp.answers.operation = { kind: "failed", reason: "declined by the bank" };
  expect(await useCases.refundPayment(meta, op("R2", "P3", "30.00"))).toEqual({ channelId: "", error: "declined by the bank" });
  psp.answers.operation = { kind: "succeeded", reference: "op_3" };
  await useCases.refundPayment(meta, op("R3", "P3", "30.00"));
  expect(await repository.findPayment("s", "P3")).toMatchObject({
    state: "refunded",
    refundedMinor: 5000,
    refundableMinor: 0,
    refundReservedMinor: 0,
    refundsInFlight: [],
  });
  await expect(useCases.refundPayment(meta, op("R4", "P3", "0.01"))).rejects.toThrow("cannot be refunded: it is refunded");
});

test("an unknown refund outcome keeps its amount reserved until the PSP says", async () => {
  const { useCases, pay, op, psp, repository } = setup();
  psp.answers.payment = { kind: "approved", reference: "ch_4" };
  await pay("P4", "10.00", false);
  psp.answers.operation = { kind: "unknown", reason: "timeout" };
  await useCases.refundPayment(meta, op("R5", "P4", "8.00"));
  await expect(useCases.refundPayment(meta, op("R6", "P4", "3.00"))).rejects.toThrow("exceeds the 2.00 USD left to refund");
  expect(await repository.findPayment("s", "P4")).toMatchObject({
    refundableMinor: 200,
    refundReservedMinor: 800,
    refundsInFlight: [{ id: "R5", minor: 800 }],
  });
});

test("the same id answers the same without a second PSP call; other parameters are refused; a mode mismatch changes nothing", async () => {
  const { useCases, pay, op, psp, repository } = setup();
  expect(await pay("P5")).toEqual({ threeDsUrl: "", error: "" });
  expect(await pay("P5")).toEqual({ threeDsUrl: "", error: "" });
  await expect(pay("P5", "99.00")).rejects.toThrow("was already received with different parameters");
  await expect(pay("P5", "100.00", true, "5555555555554444")).rejects.toThrow("was already received with different parameters");
  expect(psp.calls.filter((c) => c.call === "card")).toHaveLength(1);
  const before = await repository.findPayment("s", "P5");
  await expect(useCases.capturePayment(meta, op("C5", "P5", "1.00", false))).rejects.toThrow("is a test payment: a capture with test=false cannot act on it");
  expect(await repository.findPayment("s", "P5")).toEqual(before);
});

test("the state machine: final states never move; open states are PROCESSING", () => {
  for (const final of ["captured", "refunded", "voided", "declined", "failed"] as const) {
    expect(canMove(final, "requires_action")).toBe(false);
    expect(canMove(final, "declined") && final !== "declined").toBe(false);
  }
  expect(canMove("authorized", "captured")).toBe(true);
  expect(canMove("captured", "authorized")).toBe(false);
  for (const s of openStates) expect(genstorePaymentStatus(s)).toBe("PROCESSING");
  expect(genstorePaymentStatus("voided")).toBe("AUTH_SUCCESS");
});

test("a final result is written with its callback once; a later contrary outcome is ignored", async () => {
  const { useCases, pay, psp, repository } = setup();
  psp.answers.payment = { kind: "approved", reference: "ch_6" };
  await pay("P6", "5.00", false);
  psp.answers.status = { kind: "declined", reason: "too late" };
  await useCases.refreshPayment(meta, "P6");
  const p = await repository.findPayment("s", "P6");
  expect(p?.state).toBe("captured");
  expect(p?.callbacks.map((c) => [c.kind, c.body.status])).toEqual([["payment", true]]);
});

test("an operation claimed but never held (the service failed between the two writes) starts over on Genstore's retry", async () => {
  const { useCases, pay, op, psp, repository } = setup();
  await pay("P1");
  // What a database outage between the claim and the hold leaves: the id claimed, the payment untouched.
  await repository.claimOperation({
    _id: "C1",
    shopId: "s",
    kind: "capture",
    paymentId: "P1",
    test: true,
    state: "processing",
    requestHash: requestHash({ kind: "capture", paymentId: "P1", amount: 10000, test: true }),
    idempotencyKey: "k-C1",
    channelId: "",
    requestId: "r0",
    createdAt: at,
    updatedAt: at,
    amount: { minor: 10000, value: "100.00", currency: "USD" },
  });
  expect(await useCases.capturePayment(meta, op("C1", "P1", "100.00"))).toEqual({ channelId: "op_1", error: "" });
  expect(psp.calls.filter((c) => c.call === "capture")).toHaveLength(1);
  expect(await repository.findPayment("s", "P1")).toMatchObject({ state: "captured", capturedMinor: 10000, activeOperation: null });
  // A retry after that is answered from the record, with no second PSP call.
  expect(await useCases.capturePayment(meta, op("C1", "P1", "100.00"))).toEqual({ channelId: "op_1", error: "" });
  expect(psp.calls.filter((c) => c.call === "capture")).toHaveLength(1);
});

test("past the retry window, reconciliation drops a claim that was never sent, without asking the PSP", async () => {
  const { useCases, pay, psp, repository } = setup();
  await pay("P2");
  const old = new Date(Date.now() - 2 * 3_600_000);
  await repository.claimOperation({
    _id: "V1",
    shopId: "s",
    kind: "void",
    paymentId: "P2",
    test: true,
    state: "processing",
    requestHash: "h",
    idempotencyKey: "k-V1",
    channelId: "",
    requestId: "r0",
    createdAt: old,
    updatedAt: old,
  });
  expect(await useCases.refreshOperation(meta, "void", "V1")).toBeNull();
  expect(await repository.findOperation("void", "s", "V1")).toBeNull();
  expect(psp.calls.filter((c) => c.call === "operation status")).toHaveLength(0);
  expect(await repository.findPayment("s", "P2")).toMatchObject({ state: "authorized" });
});

test("a refund still waiting behind another past the PSP budget is answered 'retry', not accepted; its retry gets the real answer", async () => {
  const { useCases, pay, op, psp } = setup();
  psp.answers.payment = { kind: "approved", reference: "ch_3" };
  await pay("P3", "10.00", false);
  // The first refund's PSP call hangs until released; the PSP budget here is 1 s.
  let release: () => void = () => {};
  const hanging = new Promise<void>((r) => (release = r));
  const refund = psp.connector.refund.bind(psp.connector);
  let calls = 0;
  psp.connector.refund = async (ctx, input) => {
    if (++calls === 1) await hanging;
    return refund(ctx, input);
  };
  const first = useCases.refundPayment(meta, op("R1", "P3", "6.00"));
  const second = useCases.refundPayment(meta, op("R2", "P3", "6.00"));
  await expect(second).rejects.toMatchObject({ code: "unavailable", message: "payment P3 is busy with other requests; retry this refund in a few seconds" });
  expect(await first).toEqual({ channelId: "", error: "" }); // accepted, still at the PSP: PROCESSING
  release();
  // Genstore's retry of R2 waits its turn and hears the rule: 6.00 + 6.00 exceeds 10.00.
  await expect(useCases.refundPayment(meta, op("R2", "P3", "6.00"))).rejects.toThrow(/exceeds the .* left to refund/);
});

test("a PSP with no trace of a payment whose call outlived its budget is not believed until another budget has passed", async () => {
  let clock = at.getTime();
  const { useCases, pay, psp, repository } = setup(() => new Date(clock));
  psp.answers.payment = { kind: "unknown", reason: "the payment provider call failed" };
  await pay("P9", "5.00", false);
  psp.answers.status = { kind: "absent", reason: "no such payment" };
  // The charge may still be landing at the PSP: "absent" right after is no answer.
  clock += 900;
  await useCases.refreshPayment(meta, "P9");
  expect((await repository.findPayment("s", "P9"))?.state).toBe("unknown");
  clock += 200;
  await useCases.refreshPayment(meta, "P9");
  expect((await repository.findPayment("s", "P9"))?.state).toBe("declined");
});

test("a PSP's 'no such refund' right after a refund call that outlived its budget is not believed until another budget has passed", async () => {
  let clock = at.getTime();
  const { useCases, pay, op, psp, repository } = setup(() => new Date(clock));
  psp.answers.payment = { kind: "approved", reference: "ch_9" };
  await pay("P10", "10.00", false);
  psp.answers.operation = { kind: "unknown", reason: "timeout" };
  await useCases.refundPayment(meta, op("R9", "P10", "4.00"));
  // The budget ran out during the call; the refund may still be landing at the PSP.
  psp.answers.operation = { kind: "failed", reason: "the PSP has no such operation" };
  clock += 1900;
  expect((await useCases.refreshOperation(meta, "refund", "R9"))?.state).toBe("processing");
  expect(await repository.findPayment("s", "P10")).toMatchObject({ refundReservedMinor: 400 });
  clock += 200;
  expect((await useCases.refreshOperation(meta, "refund", "R9"))?.state).toBe("failed");
  expect(await repository.findPayment("s", "P10")).toMatchObject({ refundReservedMinor: 0, refundableMinor: 1000 });
});

test("when taking a lock writes (leases between instances), an operation on an unknown payment takes none", async () => {
  const inner = createKeyedMutex();
  const locked: string[] = [];
  const mutex = { ...inner, run: <T>(key: string, task: () => Promise<T>) => (locked.push(key), inner.run(key, task)) };
  const { useCases, op } = setup(undefined, { mutex, lockWrites: true });
  await expect(useCases.capturePayment(meta, op("C1", "nope"))).rejects.toThrow("payment nope not found");
  await expect(useCases.refundPayment(meta, op("R1", "nope", "1.00"))).rejects.toThrow("payment nope not found");
  expect(locked).toEqual([]);
});

describe("a retry the rules still allow is found by its claim", () => {
  test("a failed capture, retried: the same failure, no second PSP call", async () => {
    const { useCases, pay, op, psp } = setup();
    await pay("P1");
    psp.answers.operation = { kind: "failed", reason: "capture refused by the bank" };
    const first = await useCases.capturePayment(meta, op("C1", "P1", "100.00"));
    expect(first.error).toContain("capture refused by the bank");
    psp.answers.operation = { kind: "succeeded", reference: "op_2" };
    expect(await useCases.capturePayment(meta, op("C1", "P1", "100.00"))).toEqual(first);
    expect(psp.calls.filter((c) => c.call === "capture")).toHaveLength(1);
  });

  test("a partial refund, retried while money is left: the same answer, one PSP refund", async () => {
    const { useCases, pay, op, psp, repository } = setup();
    psp.answers.payment = { kind: "approved", reference: "ch_2" };
    await pay("P2", "100.00", false);
    const first = await useCases.refundPayment(meta, op("R1", "P2", "30.00"));
    expect(await useCases.refundPayment(meta, op("R1", "P2", "30.00"))).toEqual(first);
    expect(psp.calls.filter((c) => c.call === "refund")).toHaveLength(1);
    expect(await repository.findPayment("s", "P2")).toMatchObject({ refundedMinor: 3000, refundableMinor: 7000 });
  });

  test("a refund id reused with another amount the rules allow: a conflict, no PSP call, nothing written", async () => {
    const { useCases, pay, op, psp, repository } = setup();
    psp.answers.payment = { kind: "approved", reference: "ch_3" };
    await pay("P3", "100.00", false);
    await useCases.refundPayment(meta, op("R1", "P3", "30.00"));
    const [payment, refund] = [await repository.findPayment("s", "P3"), await repository.findOperation("refund", "s", "R1")];
    await expect(useCases.refundPayment(meta, op("R1", "P3", "20.00"))).rejects.toMatchObject({ code: "idempotency_conflict" });
    expect(psp.calls.filter((c) => c.call === "refund")).toHaveLength(1);
    expect(await repository.findPayment("s", "P3")).toEqual(payment);
    expect(await repository.findOperation("refund", "s", "R1")).toEqual(refund);
  });

  test("a claim made again while a void one is dropped (another instance) is left alone and answered 'retry'", async () => {
    const { useCases, pay, op, psp, repository } = setup();
    await pay("P4");
    const claim = {
      _id: "C9",
      shopId: "s",
      kind: "capture" as const,
      paymentId: "P4",
      test: true,
      state: "processing" as const,
      requestHash: requestHash({ kind: "capture", paymentId: "P4", amount: 10000, test: true }),
      idempotencyKey: "k-C9",
      channelId: "",
      requestId: "r0",
      createdAt: at,
      updatedAt: at,
      amount: { minor: 10000, value: "100.00", currency: "USD" },
    };
    await repository.claimOperation(claim);
    // Another instance claims the id again as soon as ours is dropped.
    const drop = repository.deleteOperation.bind(repository);
    repository.deleteOperation = async (...a) => {
      const r = await drop(...a);
      await repository.claimOperation({ ...claim, requestId: "other-instance" });
      return r;
    };
    await expect(useCases.capturePayment(meta, op("C9", "P4", "100.00"))).rejects.toMatchObject({ code: "unavailable" });
    expect(await repository.findOperation("capture", "s", "C9")).toMatchObject({ requestId: "other-instance", state: "processing" });
    expect(psp.calls.filter((c) => c.call === "capture")).toHaveLength(0);
  });
});
