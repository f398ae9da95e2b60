import { listingKeyOf, newerFirst, summaryOf, type PaymentListing, type PageCursor, type PaymentSummary } from "../../src/payments/paymentListing";
import { createPaymentIndex } from "../../src/store/paymentIndex";
import { createMemoryPaymentRepository } from "../helpers/memoryRepositories";
import { capturedPayment } from "../helpers/records";

// The in-memory index answers the console's listing on the embedded database: pages newest first,
// whatever order payments were loaded or written in, and the oldest left to the database once full.
const base = Date.parse("2026-04-01T00:00:00Z");
const summary = (id: string, second: number, shopId = "s") => summaryOf(capturedPayment(id, new Date(base + second * 1000), { shopId }));
const ids = (list: PaymentSummary[]) => list.map((s) => `${s.shopId}/${s.paymentId}`);
const byNewest = (a: PaymentSummary, b: PaymentSummary) => newerFirst(listingKeyOf(a), listingKeyOf(b));
const noDatabase: PaymentListing = { list: async () => ({ payments: [] }), since: async () => [] };

async function allPages(index: PaymentListing, size: number): Promise<PaymentSummary[]> {
  const out: PaymentSummary[] = [];
  let after: PageCursor | undefined;
  for (;;) {
    const page = await index.list({}, size, after);
    out.push(...page.payments);
    if (!page.next) return out;
    after = page.next;
  }
}

test("pages come newest first across loaded, new, late and changed payments", async () => {
  // Loaded in no particular order, with ties on the second broken by shop and id.
  const loaded = [5, 1, 9, 3, 3, 7, 0, 8, 2, 6].map((second, i) => summary(`L${i}`, second, i % 2 ? "a" : "b"));
  const index = createPaymentIndex(noDatabase, async function* () {
    yield* loaded;
  });
  await index.load();
  const repository = index.observe(createMemoryPaymentRepository());
  const written: PaymentSummary[] = [];
  // New payments, the newest each time, then two whose claim finished after a newer one's.
  for (const [id, second] of [
    ["N1", 10],
    ["N2", 11],
    ["N3", 12],
    ["late1", 4],
    ["late2", 11],
  ] as const) {
    const record = capturedPayment(id, new Date(base + second * 1000), { shopId: "s" });
    await repository.claimPayment(record);
    written.push(summaryOf(record));
  }
  // A change to a known payment keeps its place.
  const changed = capturedPayment("N2", new Date(base + 11_000), { shopId: "s", minor: 999 });
  await repository.updatePayment("s", "N2", {}, { set: { amount: changed.amount }, event: { at: new Date(), event: "changed" } }, changed);

  const expected = ids([...loaded, ...written].sort(byNewest));
  for (const size of [1, 4, 100]) expect(ids(await allPages(index, size))).toEqual(expected);
  expect((await index.list({}, 100)).payments.find((s) => s.paymentId === "N2")?.amountMinor).toBe(999);

  // The chart's read: the newest `limit` since a time, oldest first.
  const since = new Date(base + 4_000);
  const inWindow = [...loaded, ...written].filter((s) => s.createdAt >= since).sort((a, b) => byNewest(b, a));
  expect(ids(await index.since(undefined, since, 3))).toEqual(ids(inWindow.slice(-3)));
  expect(ids(await index.since("s", since, 100))).toEqual(ids(inWindow.filter((s) => s.shopId === "s")));
});

test("above its bound the index drops its oldest tenth and leaves older listings to the database", async () => {
  const asked: PageCursor[] = [];
  const database: PaymentListing = {
    list: async (_filter, _size, after) => (after && asked.push(after), { payments: [] }),
    since: async () => [],
  };
  const index = createPaymentIndex(
    database,
    async function* () {
      for (let i = 0; i < 10; i++) yield summary(`L${i}`, i);
    },
    10,
  );
  await index.load();
  const repository = index.observe(createMemoryPaymentRepository());
  await repository.claimPayment(capturedPayment("N", new Date(base + 10_000), { shopId: "s" }));
  // 11 > 10: the oldest two go, the nine newest stay, and answer for the time they cover.
  expect(ids((await index.list({ createdAfter: new Date(base + 2_000) }, 100)).payments)).toEqual([
    "s/N",
    "s/L9",
    "s/L8",
    "s/L7",
    "s/L6",
    "s/L5",
    "s/L4",
    "s/L3",
    "s/L2",
  ]);
  expect(asked).toEqual([]);
  // A listing reaching back before what was dropped goes to the database instead.
  const cursor = { createdAt: base + 5_000, shopId: "s", paymentId: "L5" };
  await index.list({ createdAfter: new Date(base) }, 10, cursor);
  await index.list({}, 10, cursor);
  expect(asked).toEqual([cursor, cursor]);
});

test("a full index written to while it fills trims once, from everything it read", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const index = createPaymentIndex(
    noDatabase,
    async function* () {
      for (let i = 0; i < 8; i++) yield summary(`L${i}`, i);
      await gate; // a write comes in here
      for (let i = 8; i < 14; i++) yield summary(`L${i}`, i);
    },
    10,
  );
  const loading = index.load();
  const repository = index.observe(createMemoryPaymentRepository());
  await new Promise((r) => setImmediate(r));
  for (const [id, second] of [
    ["N1", 20],
    ["N2", 21],
    ["N3", 22],
  ] as const)
    await repository.claimPayment(capturedPayment(id, new Date(base + second * 1000), { shopId: "s" }));
  release();
  await loading;
  // 17 payments, bound 10: the nine newest stay, those read after the writes among them.
  const newest = ["s/N3", "s/N2", "s/N1", "s/L13", "s/L12", "s/L11", "s/L10", "s/L9", "s/L8"];
  expect(ids((await index.list({ createdAfter: new Date(base + 8_000) }, 100)).payments)).toEqual(newest);
  expect(ids(await allPages(index, 4)).length).toBe(0); // unfiltered: older ones are the database's
  expect(ids(await index.since(undefined, new Date(base + 8_000), 100))).toEqual([...newest].reverse());
});
