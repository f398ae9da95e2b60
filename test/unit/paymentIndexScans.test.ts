import { summaryOf, type PaymentSummary } from "../../src/payments/paymentListing";
import { createPaymentIndex } from "../../src/store/paymentIndex";
import { createMemoryPaymentRepository } from "../helpers/memoryRepositories";
import { capturedPayment } from "../helpers/records";

// While the index fills at start-up, the background scans wait for it instead of reading the
// whole collection from the database (on FerretDB that read would hold connections requests need).
const at = new Date("2026-04-01T00:00:00Z");

test("scans wait for the index to fill, then answer from it; the gauges do not wait", async () => {
  const repository = createMemoryPaymentRepository();
  const stored = capturedPayment("P1", at, { shopId: "s", withCallback: true });
  await repository.claimPayment(stored);
  const asked: string[] = [];
  const spied = {
    ...repository,
    findDueCallbacks: (...a: Parameters<typeof repository.findDueCallbacks>) => (asked.push("due"), repository.findDueCallbacks(...a)),
    findStalePayments: (...a: Parameters<typeof repository.findStalePayments>) => (asked.push("stale"), repository.findStalePayments(...a)),
    countCallbacks: () => (asked.push("count"), repository.countCallbacks()),
  };
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  async function* scan(): AsyncIterable<PaymentSummary> {
    await gate;
    yield summaryOf(stored);
  }
  const index = createPaymentIndex({ list: async () => ({ payments: [] }), since: async () => [] }, scan);
  const payments = index.observe(spied);
  const loading = index.load();

  const due = payments.findDueCallbacks(new Date(at.getTime() + 1000), 10);
  const stale = payments.findStalePayments(["captured"], new Date(at.getTime() + 1000), 10);
  await expect(payments.countCallbacks()).rejects.toThrow("still filling");
  release();
  await loading;
  expect((await due).map((p) => p._id)).toEqual(["P1"]);
  expect((await stale).map((p) => p._id)).toEqual(["P1"]);
  expect(await payments.countCallbacks()).toEqual({ pending: 1, parked: 0 });
  expect(asked).toEqual([]);
});
