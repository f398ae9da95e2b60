import { randomBytes } from "node:crypto";
import { createCardDecryptor } from "../../src/crypto/cardDecryptor";
import { generateCardKeyPem, parsePrivateKey } from "../../src/crypto/keyring";
import type { PaymentRepository } from "../../src/payments/records";
import { MAX_ANSWERS_AHEAD } from "../../src/payments/outcomes";
import { createPaymentUseCases } from "../../src/payments/use-cases/index";
import { createConnectorRegistry } from "../../src/psp/registry";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { createMemoryPaymentRepository, createMemoryShops } from "../helpers/memoryRepositories";
import { createScriptedConnector, scriptedMeta, scriptedShop } from "../helpers/scriptedConnector";
import { waitFor } from "../helpers/waitFor";

// A payment is answered once the PSP's outcome is known, while its final write is under way;
// nothing that reads the payment afterwards (Get payment, Genstore's retry, a capture, shutdown)
// may see it older than that answer. The final write is held here until the test lets it go.
const key = parsePrivateKey(generateCardKeyPem(), "unit");
const shop = scriptedShop;
const meta = scriptedMeta;

/** The memory repository, with each payment update held until `release` (or failed by `fail`); after `release`, none. */
function heldWrites(inner: PaymentRepository & { payments: Map<string, unknown> }) {
  // `answered`: the write was marked as one whose answer went out (it may queue behind others).
  const held: { go: () => void; fail: (err: Error) => void; answered: boolean }[] = [];
  let holding = true;
  const repository: PaymentRepository = {
    ...inner,
    updatePayment: (...args) =>
      holding
        ? new Promise<void>((go, fail) => held.push({ go, fail, answered: args[3].answered === true })).then(() => inner.updatePayment(...args))
        : inner.updatePayment(...args),
  };
  return {
    repository,
    held,
    release: () => {
      holding = false;
      held.splice(0).forEach((h) => h.go());
    },
    fail: (err: Error) => held.splice(0).forEach((h) => h.fail(err)),
    hold: () => void (holding = true),
  };
}

function setup(lockWrites = false) {
  const memory = createMemoryPaymentRepository();
  const writes = heldWrites(memory);
  const psp = createScriptedConnector();
  const logs: Record<string, unknown>[] = [];
  const useCases = createPaymentUseCases({
    repository: writes.repository,
    shops: createMemoryShops([shop]),
    connectors: createConnectorRegistry([psp.connector]),
    cards: createCardDecryptor({ keys: [key], source: "unit" }, { fingerprintKey: randomBytes(32) }),
    returnLink: (s, p) => `https://pay.example/return/${s}/${p}`,
    pspTimeoutMs: 5000,
    log: (e) => logs.push(e),
    lockWrites,
  });
  const packet = encryptLikeGenstore(key.publicKeySpki, testCard("4242424242424242"));
  const pay = (paymentId: string) =>
    useCases.createCardPayment(meta, {
      paymentId,
      amount: "10.00",
      currency: "USD",
      test: true,
      manualCapture: false,
      packet,
      returnUrl: "https://shop.example/back",
    });
  return { memory, writes, psp, logs, useCases, pay };
}

/** Whether `p` has settled after the microtasks and I/O callbacks queued now have run. */
async function settledYet(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
}

test("the answer comes with the PSP's outcome; Get payment, a retry and shutdown wait for the write that follows it", async () => {
  const { memory, writes, psp, useCases, pay } = setup();
  psp.answers.payment = { kind: "approved", reference: "ch_9" };
  const answer = pay("P1");
  await waitFor("the final write to be sent", () => writes.held.length === 1);
  expect(await settledYet(answer)).toBe(true);
  expect(await answer).toEqual({ threeDsUrl: "", error: "" });
  expect((await memory.findPayment("s", "P1"))?.state).toBe("received");

  const get = useCases.getPayment(meta, "P1");
  const retry = pay("P1");
  const shutdown = useCases.settled();
  expect(await settledYet(get)).toBe(false);
  expect(await settledYet(retry)).toBe(false);
  expect(await settledYet(shutdown)).toBe(false);

  writes.release();
  expect(await get).toEqual({ channelPaymentId: "ch_9", status: "SUCCESS", error: "" });
  expect(await retry).toEqual({ threeDsUrl: "", error: "" });
  await shutdown;
  expect(psp.calls.filter((c) => c.call === "card")).toHaveLength(1);
  expect((await memory.findPayment("s", "P1"))?.callbacks).toHaveLength(1);
});

test("a 3-D Secure challenge is answered from the outcome; a decline only once its write has landed", async () => {
  const { writes, psp, useCases, pay } = setup();
  psp.answers.payment = { kind: "requires_action", url: "https://acs.example/challenge/1", reference: "ch_3" };
  const challenged = pay("P3");
  await waitFor("the challenge's write to be sent", () => writes.held.length === 1);
  expect(await challenged).toEqual({ threeDsUrl: "https://acs.example/challenge/1", error: "" });
  // The buyer back from the challenge page: the PSP is asked under the lock, after the write.
  psp.answers.status = { kind: "approved", reference: "ch_3" };
  const back = useCases.returnFromPsp(meta, "P3");
  expect(await settledYet(back)).toBe(false);
  // A decline may be one the PSP never saw (an open circuit): answered, its payment must be written
  // declined, or Genstore's retry of an unwritten one would go to the PSP after all.
  psp.answers.payment = { kind: "declined", reason: "card declined" };
  const declined = pay("P2");
  await waitFor("the decline's write to be sent", () => writes.held.length === 2);
  expect(await settledYet(declined)).toBe(false);
  expect(writes.held.map((h) => h.answered)).toEqual([true, false]);
  writes.release();
  expect(await back).toEqual({ redirectTo: "https://shop.example/back" });
  expect(await declined).toEqual({ threeDsUrl: "", error: "card declined" });
  expect(await useCases.getPayment(meta, "P2")).toEqual({ channelPaymentId: "", status: "FAILURE", error: "card declined" });
  expect(await useCases.getPayment(meta, "P3")).toEqual({ channelPaymentId: "ch_3", status: "SUCCESS", error: "" });
});

test("a final write that fails after the answer is logged, and the payment is left received for the reconciler", async () => {
  const { memory, writes, psp, logs, useCases, pay } = setup();
  psp.answers.payment = { kind: "approved", reference: "ch_5" };
  const answer = pay("P4");
  await waitFor("the final write to be sent", () => writes.held.length === 1);
  expect(await answer).toEqual({ threeDsUrl: "", error: "" });
  writes.fail(new Error("connection reset by the database"));
  await useCases.settled();
  // Once each: what was answered and lost, for the operator, and the failure of the work.
  expect(logs.filter((e) => e.level === "error")).toEqual([
    expect.objectContaining({
      msg: expect.stringMatching(/^a payment was answered but its result was not written/),
      paymentId: "P4",
      answered: "captured",
      error: "Error: connection reset by the database",
    }),
    expect.objectContaining({ msg: "background work failed", paymentId: "P4", error: "Error: connection reset by the database" }),
  ]);
  expect((await memory.findPayment("s", "P4"))?.state).toBe("received");
  // Get payment tells the truth as stored: still processing.
  expect(await useCases.getPayment(meta, "P4")).toEqual({ channelPaymentId: "", status: "PROCESSING", error: "" });
});

test("between instances (leases), the answer waits for the write: another instance's reads could not", async () => {
  const { writes, psp, pay } = setup(true);
  psp.answers.payment = { kind: "approved", reference: "ch_7" };
  const answer = pay("P5");
  await waitFor("the final write to be sent", () => writes.held.length === 1);
  expect(await settledYet(answer)).toBe(false);
  // Its caller waits for it: not a write of the answered ones' lane.
  expect(writes.held.map((h) => h.answered)).toEqual([false]);
  writes.release();
  expect(await answer).toEqual({ threeDsUrl: "", error: "" });
});

test(`at most ${MAX_ANSWERS_AHEAD} payments are answered ahead of their writes; past that, the answer waits for its own`, async () => {
  const { writes, psp, pay } = setup();
  psp.answers.payment = { kind: "approved", reference: "ch_8" };
  const ids = Array.from({ length: MAX_ANSWERS_AHEAD + 3 }, (_, i) => `Q${i}`);
  const answers = ids.map(pay);
  await waitFor("every final write to be sent", () => writes.held.length === ids.length);
  const settled = await Promise.all(answers.map(settledYet));
  expect(settled.filter(Boolean)).toHaveLength(MAX_ANSWERS_AHEAD);
  // Those answered are the writes marked so; the three that wait go out unmarked, not behind them.
  expect(writes.held.map((h) => h.answered)).toEqual(settled);
  writes.release();
  expect(await Promise.all(answers)).toEqual(ids.map(() => ({ threeDsUrl: "", error: "" })));
  // The count comes back down: the next one is answered ahead again.
  writes.hold();
  const next = pay("R1");
  await waitFor("its write to be sent", () => writes.held.length === 1);
  expect(await settledYet(next)).toBe(true);
  writes.release();
});

test("answered writes that fail count no more against the bound", async () => {
  const { writes, psp, pay, useCases } = setup();
  psp.answers.payment = { kind: "approved", reference: "ch_6" };
  const ids = Array.from({ length: MAX_ANSWERS_AHEAD }, (_, i) => `F${i}`);
  const answers = ids.map(pay);
  await waitFor("every final write to be sent", () => writes.held.length === ids.length);
  await Promise.all(answers);
  writes.fail(new Error("connection reset by the database"));
  await useCases.settled();
  const next = pay("F-next");
  await waitFor("its write to be sent", () => writes.held.length === 1);
  expect(await settledYet(next)).toBe(true);
  writes.release();
});
