// npm run bench:ab: two builds of the service (or one build with two settings) side by side on one
// embedded FerretDB, JSON card payments in alternating windows, so that a lever's effect is read
// against the same minutes of this VM's drifting speed. Prints figures; never fails on speed.
//
//   npm run bench:ab -- --b ../other-checkout            # this checkout (A) against another (B)
//   npm run bench:ab -- --b-env LOG_LEVEL=warn -c 1      # one build, two settings, at c=1
//   npm run bench:ab -- --b-route grpc -c 16             # one build, JSON against gRPC
//   npm run bench:ab -- --b floor -c 1                   # this checkout against the bench's floor
//
// A side is a directory holding a built checkout (`npm run build` run in it: dist/ beside src/, and
// its node_modules, a link to this one's will do); it runs as its package.json's start script does.
// `floor` for a side is the bench's floor server (floorServer.ts), on the JSON route: where the
// service's cost differs from the floor's, both profiled (`--b-env NODE_OPTIONS=--cpu-prof`) in the
// same minutes.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { generateCardKeyPem, parsePrivateKey } from "../../src/crypto/keyring";
import { FERRETDB_POOL_SIZE } from "../../src/store/database";
import { startEmbeddedDatabase, unixSocketOf } from "../../src/store/embeddedDatabase";
import { createGrpcJsClient } from "../helpers/grpcJsClient";
import { freePort } from "../helpers/serviceProcess";
import { floorCardCall, grpcCardCall, grpcJsCardCall, jsonCardCall } from "./cardCalls";
import { createCardPayloads } from "./cardPayloads";
import { startCallbackSink } from "./callbackSink";
import { startFloor } from "./startFloor";
import { journalPayments } from "./databaseCounts";
import { closedLoop, createGrpcPoster, createJsonPoster, percentile, type Call } from "./loadGenerator";
import { cpuMs, machineTicks, shareText, stolenShare } from "./processStats";
import { benchServiceEnv } from "./serviceEnv";

const root = resolve(__dirname, "../..");
const { values } = parseArgs({
  options: {
    a: { type: "string", default: "." },
    b: { type: "string", default: "." },
    "a-env": { type: "string", multiple: true, default: [] },
    "b-env": { type: "string", multiple: true, default: [] },
    "a-route": { type: "string", default: "json" },
    "b-route": { type: "string", default: "json" },
    concurrency: { type: "string", short: "c", default: "1" },
    rounds: { type: "string", default: "8" },
    "window-ms": { type: "string", default: "3000" },
    "warmup-ms": { type: "string", default: "5000" },
  },
});
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const windowMs = Number(values["window-ms"]);
const warmupMs = Number(values["warmup-ms"]);

function envPairs(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((p) => {
      const at = p.indexOf("=");
      if (at < 1) throw new Error(`--a-env and --b-env take NAME=value, got "${p}"`);
      return [p.slice(0, at), p.slice(at + 1)];
    }),
  );
}

/** How a side is called: the Genstore JSON route, gRPC from the bench's lean client, or from @grpc/grpc-js. */
const ROUTES = ["json", "grpc", "grpc-js"] as const;
type Route = (typeof ROUTES)[number];
function routeOf(value: string | undefined): Route {
  if (!ROUTES.includes(value as Route)) throw new Error(`--a-route and --b-route take ${ROUTES.join(", ")}, got "${value}"`);
  return value as Route;
}

/** The value of --a or --b that makes a side the bench's floor server. */
const FLOOR = "floor";

/** A side's checkout as an absolute path, or FLOOR. */
const sideDir = (value: string): string => (value === FLOOR ? FLOOR : resolve(value));

interface Side {
  name: "A" | "B";
  /** A built checkout, or FLOOR. */
  dir: string;
  env: Record<string, string>;
  route: Route;
  child?: ChildProcess;
  url?: string;
  totals: {
    requests: number;
    ms: number;
    serviceMs: number;
    ferretdbMs: number;
    generatorMs: number;
    latencies: number[];
    errors: number;
    callbacks: number;
    stolenMs: number;
  };
}

async function startSide(side: Side, env: Record<string, string>): Promise<void> {
  const main = join(side.dir, "dist/src/main.js");
  if (!existsSync(main)) throw new Error(`${side.name}: ${main} is missing; run npm run build in ${side.dir}`);
  const start = (JSON.parse(readFileSync(join(side.dir, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start;
  const port = await freePort();
  const child = spawn(process.execPath, [...start.split(" ").filter((w) => w.startsWith("--")), main], {
    cwd: side.dir,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env, ...side.env, PORT: String(port) },
    // Its log lines are read one by one, as a log collector would (and as bench.ts does), and
    // dropped; its errors shown.
    stdio: ["ignore", "pipe", "inherit"],
  });
  createInterface({ input: child.stdout! }).on("line", () => {});
  side.child = child;
  side.url = `http://127.0.0.1:${port}`;
  for (const until = Date.now() + 120_000; ;) {
    if (child.exitCode !== null) throw new Error(`${side.name} exited with ${child.exitCode} at start`);
    if (
      await fetch(`${side.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    if (Date.now() > until) throw new Error(`${side.name} did not answer /healthz within 120 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), "genstore-bench-ab-"));
  const database = await startEmbeddedDatabase({ dataDir: work, cacheDir: join(root, ".cache"), sync: "full", unix: unixSocketOf(work) });
  const genstore = await startCallbackSink();
  const pem = generateCardKeyPem();
  const key = parsePrivateKey(pem, "bench");
  const sides: Side[] = (["A", "B"] as const).map((name) => ({
    name,
    dir: sideDir(name === "A" ? values.a : values.b),
    env: envPairs(name === "A" ? values["a-env"] : values["b-env"]),
    route: routeOf(name === "A" ? values["a-route"] : values["b-route"]),
    totals: { requests: 0, ms: 0, serviceMs: 0, ferretdbMs: 0, generatorMs: 0, latencies: [], errors: 0, callbacks: 0, stolenMs: 0 },
  }));
  try {
    for (const side of sides) {
      const env = benchServiceEnv({
        dataDir: join(work, side.name),
        databaseUri: database.uri,
        databaseName: `bench_ab_${side.name}`,
        cardKeyPem: pem,
        genstoreUrl: genstore.url,
        books: "file",
      });
      if (side.dir !== FLOOR) await startSide(side, env);
      else {
        if (side.route !== "json") throw new Error(`the floor takes JSON only, not ${side.route}`);
        const floor = await startFloor({
          databaseUri: database.uri,
          databaseName: `bench_ab_floor_${side.name}`,
          cardKeyPem: pem,
          poolSize: Number(process.env.DATABASE_POOL_SIZE || FERRETDB_POOL_SIZE),
          env: side.env,
        });
        side.child = floor.child;
        side.url = floor.url;
      }
      console.log(
        `${side.name}: ${side.dir}${Object.keys(side.env).length ? ` with ${values[side.name === "A" ? "a-env" : "b-env"].join(" ")}` : ""}, ${side.route}`,
      );
    }
    await compare(sides, key.publicKeySpki, database.pid, () => genstore.received());
  } finally {
    for (const side of sides) side.child?.kill("SIGTERM");
    await Promise.all(sides.map((s) => s.child && s.child.exitCode === null && new Promise((r) => s.child!.once("exit", r))));
    await genstore.stop();
    await database.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

async function compare(sides: Side[], publicKeySpki: string, ferretdbPid: number, callbacks: () => number): Promise<void> {
  const payloads = createCardPayloads(publicKeySpki, 500);
  const callers = new Map(sides.map((side) => [side.name, cardCaller(side, payloads)]));
  console.log(`Card payments at c=${concurrency}, ${rounds} rounds of a ${windowMs} ms window per side, the order alternating\n`);
  // Each side's code is made hot before round 1 (at c=16: thousands of calls, as V8 needs before it
  // optimizes the functions a payment passes through once), so that round 1 does not weigh a cold
  // side against a warm one.
  if (warmupMs > 0) {
    for (const side of sides) await closedLoop(callers.get(side.name)!.call, 16, warmupMs);
    console.log(`(each side warmed up for ${warmupMs} ms at c=16)\n`);
  }
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const rps: Record<string, number> = {};
    const stolen: Record<string, number> = {};
    for (const side of round % 2 ? [...sides].reverse() : sides) {
      // Each window starts with both services' delivery journals folded: the idle one's folding
      // would land in the other's window (the first window of a round ran up to 60% faster).
      for (const s of sides) while (s.dir !== FLOOR && (await journalPayments(s.url!)) > 0) await new Promise((r) => setTimeout(r, 200));
      const call = callers.get(side.name)!.call;
      await closedLoop(call, concurrency, 1000);
      const before = { service: cpuMs(side.child!.pid!), ferretdb: cpuMs(ferretdbPid), generator: cpuMs(process.pid), callbacks: callbacks() };
      const ticks = machineTicks();
      const r = await closedLoop(call, concurrency, windowMs);
      stolen[side.name] = stolenShare(ticks, machineTicks());
      const t = side.totals;
      t.requests += r.latencies.length;
      t.ms += r.elapsedMs;
      t.serviceMs += cpuMs(side.child!.pid!) - before.service;
      t.ferretdbMs += cpuMs(ferretdbPid) - before.ferretdb;
      t.generatorMs += cpuMs(process.pid) - before.generator;
      t.latencies.push(...r.latencies);
      t.errors += r.errors;
      t.callbacks += callbacks() - before.callbacks;
      t.stolenMs += stolen[side.name]! * r.elapsedMs;
      rps[side.name] = r.latencies.length / (r.elapsedMs / 1000);
      if (r.firstError) console.log(`  ${side.name}: ${r.errors} errors, the first: ${r.firstError}`);
    }
    ratios.push((100 * rps.B!) / rps.A!);
    // The hypervisor's share of each window: a round where one side lost far more is weighed by eye.
    const sideText = (name: "A" | "B") => `${name} ${rps[name]!.toFixed(0)} req/s (stolen ${shareText(stolen[name]!)})`;
    console.log(`round ${round + 1}: ${sideText("A")}, ${sideText("B")}, B/A ${ratios[round]!.toFixed(0)}%`);
  }
  console.log("");
  for (const { name, totals: t } of sides) {
    const sorted = t.latencies.sort((x, y) => x - y);
    const perRequest = (ms: number) => (ms / Math.max(1, t.requests)).toFixed(2);
    console.log(
      `${name}: ${((1000 * t.requests) / t.ms).toFixed(1)} req/s  p50 ${percentile(sorted, 50).toFixed(2)} ms  p99 ${percentile(sorted, 99).toFixed(2)} ms  errors ${t.errors}  CPU ms/req: service ${perRequest(t.serviceMs)}, ferretdb ${perRequest(t.ferretdbMs)}, generator ${perRequest(t.generatorMs)}  callbacks/req ${perRequest(t.callbacks)}  stolen ${shareText(t.stolenMs / Math.max(1, t.ms))}`,
    );
  }
  const [a, b] = sides.map((s) => s.totals.requests / s.totals.ms) as [number, number];
  console.log(`B / A throughput: ${((100 * b) / a).toFixed(1)}% (rounds ${ratios.map((r) => `${r.toFixed(0)}%`).join(", ")})`);
  for (const c of callers.values()) c.close();
}

/** A side's card payments on its route, and the client to close after. */
function cardCaller(side: Side, payloads: ReturnType<typeof createCardPayloads>): { call: Call; close(): void } {
  if (side.dir === FLOOR) return { call: floorCardCall(createJsonPoster(side.url!, 256), payloads, side.name), close: () => {} };
  if (side.route === "json") return { call: jsonCardCall(createJsonPoster(side.url!, 256), payloads, side.name), close: () => {} };
  if (side.route === "grpc") {
    const poster = createGrpcPoster(side.url!);
    return { call: grpcCardCall(poster, payloads, side.name), close: () => poster.close() };
  }
  const client = createGrpcJsClient(PaymentService, new URL(side.url!).host);
  return { call: grpcJsCardCall(client, payloads, side.name), close: () => client.close() };
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
