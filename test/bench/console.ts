// The console's payment listing over 10,000 payments on the embedded FerretDB: filtered
// ListPayments calls through the real service, and the same filters as a database query.
// Run: npm run bench:console [payments] [--index-only]. Prints figures; it is not a test and never fails CI.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { OperationsService } from "../../gen/genstore/payment/v1/operations_service_pb";
import { pspIdempotencyKey } from "../../src/payments/idempotencyKeys";
import { startEmbeddedDatabase } from "../../src/store/embeddedDatabase";
import { createPaymentQueries } from "../../src/store/paymentListing";
import { createPaymentIndex } from "../../src/store/paymentIndex";
import { summaryOf } from "../../src/payments/paymentListing";
import type { PaymentRecord } from "../../src/payments/records";
import { startTestServer, withAdminToken } from "../helpers/testServer";

const total = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 10_000);
const states = ["captured", "authorized", "declined", "failed", "refunded"] as const;

function payment(i: number, now: number) {
  const shopId = `shop-${i % 20}`;
  const id = `pay-${i.toString().padStart(6, "0")}`;
  const at = new Date(now - i * 1000);
  return {
    _id: pspIdempotencyKey("payment", shopId, id),
    genstoreId: id,
    shopId,
    method: "card",
    amount: { minor: 1000 + i, value: ((1000 + i) / 100).toFixed(2), currency: "USD" },
    test: i % 2 === 0,
    manualCapture: false,
    captureAtOnce: true,
    state: states[i % states.length],
    requestHash: "h",
    psp: "sandbox",
    idempotencyKey: pspIdempotencyKey("payment", shopId, id),
    channelPaymentId: `ch_${i}`,
    card: { brand: "visa", last4: "4242", expiryMonth: 12, expiryYear: 2030, fingerprint: "f" },
    authorizedMinor: 1000 + i,
    capturedMinor: 1000 + i,
    refundableMinor: 0,
    refundReservedMinor: 0,
    refundedMinor: 0,
    activeOperation: null,
    refundsInFlight: [],
    timeline: [
      { at, event: "payment received", requestId: `req-${i}`, state: "received" },
      { at: new Date(at.getTime() + 40), event: "psp: captured", requestId: `req-${i}`, state: "captured" },
    ],
    callbacks: [
      {
        id: `payment:${id}`,
        kind: "payment",
        targetId: id,
        body: { paymentId: id, status: true },
        state: "delivered",
        attempts: [{ at, httpStatus: 200, durationMs: 9 }],
        nextAttemptAt: null,
        createdAt: at,
        deliveredAt: new Date(at.getTime() + 120),
      },
    ],
    nextCallbackAt: null,
    createdAt: at,
    updatedAt: at,
  };
}

async function time<T>(label: string, run: () => Promise<T>, count: (r: T) => number, rounds = 5): Promise<void> {
  const ms: number[] = [];
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint();
    n = count(await run());
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(58)} median ${ms[Math.floor(rounds / 2)]!.toFixed(1).padStart(8)} ms  max ${ms[rounds - 1]!.toFixed(1).padStart(8)} ms  (${n} rows)`,
  );
}

/** The in-memory index alone, in this process: what a listing costs before HTTP and Connect. */
async function indexAlone(now: number): Promise<void> {
  const summaries = Array.from({ length: total }, (_, i) => summaryOf(payment(i, now) as unknown as PaymentRecord));
  const noDatabase = { list: () => Promise.reject(new Error("no database here")), since: () => Promise.reject(new Error("no database here")) };
  const index = createPaymentIndex(noDatabase, async function* () {
    yield* summaries;
  });
  await index.load();
  await time(
    "index alone: shop + state=declined, 50 per page",
    () => index.list({ shopId: "shop-7", states: ["declined"] }, 50),
    (r) => r.payments.length,
    20,
  );
  await time(
    "index alone: state=failed + live + last hour",
    () => index.list({ states: ["failed"], test: false, createdAfter: new Date(now - 3600_000) }, 50),
    (r) => r.payments.length,
    20,
  );
}

async function main() {
  await indexAlone(Date.now());
  if (process.argv.includes("--index-only")) return;
  const root = resolve(__dirname, "../..");
  const work = mkdtempSync(join(tmpdir(), "genstore-bench-console-"));
  const database = await startEmbeddedDatabase({ dataDir: work, cacheDir: join(root, ".cache") });
  process.env.TEST_MONGODB_URI = database.uri;
  const now = Date.now();
  // The service starts over a database that already holds the payments (its index loads them).
  const seed = await startTestServer({ background: false });
  const t0 = Date.now();
  const docs = Array.from({ length: total }, (_, i) => payment(i, now));
  for (let i = 0; i < docs.length; i += 1000) await seed.db.collection("payments").insertMany(docs.slice(i, i + 1000) as never[]);
  console.log(`inserted ${total} payments in ${Date.now() - t0} ms`);
  await seededService(seed, now).run();
  await seed.stop();
  await database.stop();
  rmSync(work, { recursive: true, force: true });
}

function seededService(seed: Awaited<ReturnType<typeof startTestServer>>, now: number) {
  return {
    async run() {
      const client = createClient(OperationsService, createConnectTransport({ baseUrl: seed.url, httpVersion: "1.1", interceptors: [withAdminToken] }));
      const t = Date.now();
      seed.app.start(); // loads the in-memory index from the payments just inserted
      while (!seed.logs.some((l) => l.msg === "payment index loaded")) await new Promise((r) => setTimeout(r, 50));
      console.log(`service index loaded from the database in ${Date.now() - t} ms`);
      const hourAgo = timestampFromDate(new Date(now - 3600_000));
      const queries = createPaymentQueries(seed.db);
      const cases: [string, Parameters<typeof client.listPayments>[0], Parameters<typeof queries.list>[0]][] = [
        ["shop + state=declined, 50 per page", { shopId: "shop-7", states: ["declined"], pageSize: 50 }, { shopId: "shop-7", states: ["declined"] }],
        [
          "state=failed + mode=live + last hour",
          { states: ["failed"], mode: "live", createdAfter: hourAgo, pageSize: 50 },
          { states: ["failed"], test: false, createdAfter: new Date(now - 3600_000) },
        ],
        ["payment id", { paymentId: "pay-009999", pageSize: 50 }, { paymentId: "pay-009999" }],
        ["no filter, first page", { pageSize: 50 }, {}],
      ];
      for (const [label, req] of cases)
        await time(
          `ListPayments (service, in-memory index): ${label}`,
          () => client.listPayments(req),
          (r) => r.payments.length,
        );
      // For comparison, once: the indexed query MongoDB answers, which FerretDB answers by reading every payment.
      const [label, , filter] = cases[0]!;
      await time(
        `database query on FerretDB (the MongoDB path): ${label}`,
        () => queries.list(filter, 50),
        (r) => r.payments.length,
        1,
      );
      await time(
        "GetPaymentStats, last 180 minutes",
        () => client.getPaymentStats({ minutes: 180 }),
        (r) => r.buckets.length,
      );
    },
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(0); // a benchmark prints; it never fails CI
});
