// What the leases cost (README "Scaling out"): card payments against one instance on its embedded
// FerretDB, without leases (SHARED_DATABASE=false) and, restarted on the same database, with them
// (SHARED_DATABASE=true), one at a time and 4 at once, with callbacks delivered to a local fake
// Genstore. Prints latency and database writes and reads per payment (the sandbox
// PSP's books apart), counted once every outbox has drained. Never fails on figures.
// npm run bench:leases [-- --quick]
import { startFakeGenstore } from "../helpers/fakeGenstore";
import { startCluster, type Cluster } from "../helpers/cluster";
import { waitFor } from "../helpers/waitFor";
import { costPerRequest, serviceCommandCounts } from "./databaseCounts";
import { closedLoop, createJsonPoster, percentile } from "./loadGenerator";

const quick = process.argv.includes("--quick");
const STEP_MS = quick ? 5_000 : 10_000;
let seq = 0;
// Payloads encrypted once (ECDH per payload would load the generator's core); ids stay unique.
let packets: unknown[] = [];
let template: Record<string, unknown> = {};

async function step(cluster: Cluster, i: number, concurrency: number) {
  const url = cluster.instances[i]!.url;
  const post = createJsonPoster(url, 64);
  const call = async () => {
    const body = JSON.stringify({ ...template, paymentId: `BL-${process.pid}-${i}-${++seq}`, paymentMethod: packets[seq % packets.length] });
    const r = await post("/genstore/v1/payments/card", body);
    if (r.status !== 200 || !r.text.includes('"error":""')) throw new Error(`${r.status} ${r.text.slice(0, 200)}`);
  };
  await closedLoop(call, concurrency, 1000); // warm-up
  await drained(cluster);
  const before = await serviceCommandCounts(url);
  const run = await closedLoop(call, concurrency, STEP_MS);
  await drained(cluster);
  const db = costPerRequest(before, await serviceCommandCounts(url), run.latencies.length);
  const sorted = [...run.latencies].sort((a, b) => a - b);
  return {
    concurrency,
    payments: run.latencies.length,
    errors: run.errors,
    firstError: run.firstError,
    rps: run.latencies.length / (run.elapsedMs / 1000),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    ...db,
  };
}

const drained = (cluster: Cluster) =>
  waitFor(
    "the outbox to drain",
    async () => (await cluster.db.collection("payments").countDocuments({ nextCallbackAt: { $ne: null } })) === 0,
    60_000,
    100,
  ).catch((err: unknown) => {
    const lines = cluster.instances.flatMap((s) => s?.output.join("").split("\n") ?? []);
    console.error(
      lines
        .filter((l) => /"level":"(warn|error)"/.test(l))
        .slice(-20)
        .join("\n"),
    );
    throw err;
  });

/** The one instance restarted with or without leases (the same database, FerretDB kept running). */
async function restart(cluster: Cluster, shared: boolean) {
  const s = cluster.instances[0]!;
  s.child.kill("SIGTERM");
  await s.exited;
  await cluster.start(0, { SHARED_DATABASE: String(shared) });
}

async function main() {
  const genstore = await startFakeGenstore();
  const cluster = await startCluster(
    1,
    {
      GENSTORE_CALLBACK_BASE_URL: genstore.url,
      GENSTORE_ACCESS_TOKEN: "tok-bench",
      // As in bench.ts: measure the service, not Genstore's or our own rate limits.
      GENSTORE_RATE_LIMIT_BURST: "100000",
      GENSTORE_RATE_LIMIT_PER_SECOND: "100000",
      RATE_LIMIT_PER_IP: "1000000",
      RATE_LIMIT_PER_SHOP: "1000000",
    },
    () => ({ SHARED_DATABASE: "false" }),
  );
  packets = Array.from({ length: 300 }, (_, n) => cluster.card(`packet-${n}`).paymentMethod);
  template = cluster.card("template", { manualCapture: false });
  // Off and on alternate, so that a growing collection and the machine's load weigh on both.
  const rounds = quick ? 1 : 2;
  let shared = false;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const leases of process.env.ONLY_SHARED ? [true] : [false, true]) {
        if (leases !== shared) await restart(cluster, (shared = leases));
        for (const concurrency of [1, 4]) {
          const r = await step(cluster, 0, concurrency);
          console.log(
            `round ${round + 1} leases ${leases ? "on " : "off"} c=${String(concurrency).padEnd(2)} ${r.payments} payments ${r.rps.toFixed(0).padStart(4)}/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p95 ${r.p95.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  per payment: ${r.writes.toFixed(2)} writes, ${r.reads.toFixed(2)} reads (+${r.pspWrites.toFixed(2)} PSP writes)  errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ""}`,
          );
        }
      }
    }
  } finally {
    await cluster.stop();
    await genstore.stop();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
