import { createOutboxWriter } from "../../src/callbacks/outboxWriter";
import { paymentCallback } from "../../src/payments/callbackBody";
import type { PaymentRecord } from "../../src/payments/records";
import { paymentLockKey } from "../../src/payments/use-cases/index";
import { createKeyedMutex } from "../../src/runtime/keyedMutex";
import { createMemoryPaymentRepository } from "../helpers/memoryRepositories";
import { capturedPayment } from "../helpers/records";

const at = new Date("2026-03-01T00:00:00Z");

const payment = (id: string): PaymentRecord => ({ ...capturedPayment(id, at, { shopId: "s", withCallback: true }), version: 1 });

function setup() {
  const repository = createMemoryPaymentRepository();
  let outboxWrites = 0;
  const counted = {
    ...repository,
    saveOutboxes: (w: Parameters<typeof repository.saveOutboxes>[0]) => {
      outboxWrites++;
      return repository.saveOutboxes(w);
    },
  };
  const writer = createOutboxWriter({ repository: counted, mutex: createKeyedMutex(), lockKey: paymentLockKey, flushMs: 20 });
  return { repository, writer, writes: () => outboxWrites };
}

const delivered = (cb: { state: string; deliveredAt?: Date | null }) => {
  cb.state = "delivered";
  cb.deliveredAt = at;
};

test("deliveries of several payments within the window are one write, with no read", async () => {
  const { repository, writer, writes } = setup();
  const ps = ["A", "B", "C"].map(payment);
  for (const p of ps) await repository.claimPayment(p);
  const after = await Promise.all(ps.map((p) => writer.record(p, p.callbacks[0]!.id, delivered)));
  expect(writes()).toBe(1);
  for (const p of after) expect(p).toMatchObject({ nextCallbackAt: null, callbacks: [{ state: "delivered" }] });
  for (const p of ps) expect(await repository.findPayment("s", p._id)).toMatchObject({ nextCallbackAt: null, callbacks: [{ state: "delivered" }] });
});

test("a payment changed since the dispatcher's copy is read again: the new callback is kept, the delivery recorded", async () => {
  const { repository, writer } = setup();
  const p = payment("D");
  await repository.claimPayment(p);
  // A refund's result was queued after the dispatcher took its copy.
  const refund = { ...paymentCallback(p, "payment", true, undefined, at), id: "refund:R1", kind: "refund" as const };
  await repository.updatePayment("s", "D", {}, { event: { at, event: "refund succeeded" }, callback: refund });
  const after = await writer.record(p, p.callbacks[0]!.id, delivered);
  const stored = await repository.findPayment("s", "D");
  expect(stored?.callbacks.map((c) => [c.id, c.state])).toEqual([
    [p.callbacks[0]!.id, "delivered"],
    ["refund:R1", "pending"],
  ]);
  expect(stored?.nextCallbackAt).not.toBeNull();
  expect(after?.callbacks).toHaveLength(2);
});

test("a write says which callbacks it delivered only when delivering them is all it does", async () => {
  const repository = createMemoryPaymentRepository();
  const seen: { paymentId: string; deliveries?: string[] }[] = [];
  const writer = createOutboxWriter({
    repository: {
      ...repository,
      saveOutboxes: (w) => (seen.push(...w.map(({ paymentId, deliveries }) => ({ paymentId, deliveries }))), repository.saveOutboxes(w)),
    },
    mutex: createKeyedMutex(),
    lockKey: paymentLockKey,
    flushMs: 20,
  });
  const [ok, failed, again] = ["E", "F", "G"].map(payment) as [PaymentRecord, PaymentRecord, PaymentRecord];
  for (const p of [ok, failed, again]) await repository.claimPayment(p);
  await Promise.all([
    writer.record(ok, ok.callbacks[0]!.id, delivered),
    // A failed attempt: the whole outbox is written.
    writer.record(failed, failed.callbacks[0]!.id, (cb) => cb.attempts.push({ at, durationMs: 1, error: "503" })),
  ]);
  // Already delivered (a redundant record): nothing new to journal.
  const done = (await repository.findPayment("s", "E"))!;
  await writer.record({ ...done, _id: "G", callbacks: done.callbacks.map((c) => ({ ...c, id: again.callbacks[0]!.id })) }, again.callbacks[0]!.id, delivered);
  expect(seen).toEqual([{ paymentId: "E", deliveries: [ok.callbacks[0]!.id] }, { paymentId: "F" }, { paymentId: "G" }]);
});
