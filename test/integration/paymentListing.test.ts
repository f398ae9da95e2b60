import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OperationsService } from "../../gen/genstore/payment/v1/operations_service_pb";
import { createPaymentQueries } from "../../src/store/paymentListing";
import { createPaymentRepository } from "../../src/store/paymentRepository";
import { cardBody, genstoreClient, uniqueId } from "../helpers/payments";
import { startTestServer, withAdminToken, type TestServer } from "../helpers/testServer";
import { waitFor } from "../helpers/waitFor";

// ListPayments and GetPaymentStats over real payments: filters, paging without repeats or gaps,
// and the same answers from the in-memory index (embedded FerretDB) and the database query (MongoDB's path).
let server: TestServer;
let ops: ReturnType<typeof createClient<typeof OperationsService>>;
const made: { id: string; shop: string; state: string; test: boolean }[] = [];
beforeAll(async () => {
  server = await startTestServer();
  await server.addShop("list-b");
  ops = createClient(OperationsService, createGrpcTransport({ baseUrl: server.url, interceptors: [withAdminToken] }));
  for (let i = 0; i < 14; i++) {
    const shop = i % 2 ? "list-b" : "test-shop";
    const id = uniqueId(`list${i}`);
    const decline = i % 3 === 0;
    const test = i % 4 !== 1;
    const res = await genstoreClient(server, shop).pay(
      cardBody(server, id, { card: decline ? "4000000000000002" : "4242424242424242", manualCapture: false, test }),
    );
    expect(res.status).toBe(200);
    made.push({ id, shop, state: decline ? "declined" : "captured", test });
  }
  await waitFor("the index to be loaded", () => server.logs.some((l) => l.msg === "payment index loaded"));
}, 60_000);
afterAll(async () => {
  await server.stop();
});

test("filters by shop, state, mode, id and time; pages newest first without repeats or gaps", async () => {
  const declinedB = made.filter((m) => m.shop === "list-b" && m.state === "declined").map((m) => m.id);
  const res = await ops.listPayments({ shopId: "list-b", states: ["declined"] });
  expect(res.payments.map((p) => p.paymentId).sort()).toEqual([...declinedB].sort());
  expect(res.payments.every((p) => p.error !== "" && p.cardLast4 === "0002")).toBe(true);

  const live = await ops.listPayments({ mode: "live" });
  expect(live.payments.map((p) => p.paymentId).sort()).toEqual(
    made
      .filter((m) => !m.test)
      .map((m) => m.id)
      .sort(),
  );
  expect((await ops.listPayments({ paymentId: made[5]!.id })).payments).toHaveLength(1);
  expect((await ops.listPayments({ createdAfter: timestampFromDate(new Date(Date.now() + 60_000)) })).payments).toHaveLength(0);

  const seen: string[] = [];
  let token = "";
  do {
    const page = await ops.listPayments({ pageSize: 4, pageToken: token });
    expect(page.payments.length).toBeLessThanOrEqual(4);
    seen.push(...page.payments.map((p) => p.paymentId));
    token = page.nextPageToken;
  } while (token);
  expect(seen).toHaveLength(made.length);
  expect(new Set(seen).size).toBe(made.length);
  expect(seen).toEqual([...made].reverse().map((m) => m.id));
  await expect(ops.listPayments({ pageToken: "bm90LWEtdG9rZW4" })).rejects.toMatchObject({ code: Code.InvalidArgument });
  await expect(ops.listPayments({ states: ["nope"] })).rejects.toMatchObject({ code: Code.InvalidArgument });
});

test("the database query answers as the in-memory index does", async () => {
  const queries = createPaymentQueries(server.db);
  for (const filter of [{}, { shopId: "list-b" }, { states: ["declined" as const] }, { test: false }]) {
    const fromIndex = await ops.listPayments({
      shopId: filter.shopId ?? "",
      states: filter.states ?? [],
      mode: filter.test === false ? "live" : "",
      pageSize: 100,
    });
    const fromDb = await queries.list(filter, 100);
    expect(fromDb.payments.map((p) => p.paymentId)).toEqual(fromIndex.payments.map((p) => p.paymentId));
  }
  // The chart's read: the newest `limit` since a time, oldest first, from either.
  const since = new Date(0);
  expect(made.length).toBeGreaterThan(3);
  for (const limit of [3, 100]) {
    const fromIndex = await server.app.listing.since(undefined, since, limit);
    expect((await queries.since(undefined, since, limit)).map((p) => p.paymentId)).toEqual(fromIndex.map((p) => p.paymentId));
    expect(fromIndex.map((p) => p.paymentId)).toEqual(made.map((m) => m.id).slice(-limit));
  }
  const page1 = await queries.list({}, 5);
  const page2 = await queries.list({}, 5, page1.next);
  expect([...page1.payments, ...page2.payments].map((p) => p.paymentId)).toEqual(
    [...made]
      .reverse()
      .slice(0, 10)
      .map((m) => m.id),
  );
});

test("stats per minute count outcomes (callbacks here go nowhere: no lag yet)", async () => {
  const stats = await ops.getPaymentStats({ minutes: 5 });
  expect(stats.buckets).toHaveLength(5);
  const sum = (k: "succeeded" | "declined") => stats.buckets.reduce((s, b) => s + b[k], 0);
  expect(sum("declined")).toBe(made.filter((m) => m.state === "declined").length);
  expect(sum("succeeded")).toBe(made.filter((m) => m.state === "captured").length);
  const withPayments = stats.buckets.filter((b) => b.succeeded + b.declined > 0);
  expect(withPayments.every((b) => b.pspLatencyMsP95 >= b.pspLatencyMsP50 && b.callbacksDelivered === 0)).toBe(true);
  const shopOnly = await ops.getPaymentStats({ shopId: "list-b", minutes: 5 });
  expect(shopOnly.buckets.reduce((s, b) => s + b.succeeded + b.declined, 0)).toBe(made.filter((m) => m.shop === "list-b").length);
});

test("the background scans (due callbacks, open payments, callback counts) answer from the index as the database does", async () => {
  const fromIndex = server.app.payments;
  const fromDb = createPaymentRepository(server.db, { atomicConditionalUpdates: false });
  const later = new Date(Date.now() + 86_400_000);
  const ids = (ps: { _id: string }[]) => ps.map((p) => p._id).sort();
  // Every payment here has its callback pending (the shop's Genstore is unreachable).
  expect(ids(await fromIndex.findDueCallbacks(later, 100))).toEqual(ids(await fromDb.findDueCallbacks(later, 100)));
  expect((await fromIndex.findDueCallbacks(later, 100, ["list-b"])).every((p) => p.shopId !== "list-b")).toBe(true);
  expect(ids(await fromIndex.findDueCallbacks(later, 100))).toHaveLength(made.length);
  const states = ["captured", "declined"] as const;
  expect(ids(await fromIndex.findStalePayments(states, later, 100))).toEqual(ids(await fromDb.findStalePayments(states, later, 100)));
  expect(await fromIndex.findStalePayments(states, new Date(0), 100)).toEqual([]);
  // The oldest first, as the reconciler takes them a batch at a time.
  const oldest = async (repo: typeof fromDb) => (await repo.findStalePayments(states, later, 3)).map((p) => p._id);
  expect(await oldest(fromIndex)).toEqual(await oldest(fromDb));
  expect(await fromIndex.countCallbacks()).toEqual(await fromDb.countCallbacks());
});
