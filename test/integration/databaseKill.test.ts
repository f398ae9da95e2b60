import { randomBytes } from "node:crypto";
import { decodeEntries } from "../../src/store/storedEntries";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { MongoClient } from "mongodb";
import examples from "../fixtures/apiPageExamples.json";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { startServiceProcess, type ServiceProcess } from "../helpers/serviceProcess";
import { sandboxFileBooks } from "../helpers/payments";
import { unixSocketOf } from "../../src/store/embeddedDatabase";
import { waitFor } from "../helpers/waitFor";

// The real service with its own embedded FerretDB, serving card payments at about 4 per second,
// when FerretDB is killed with SIGKILL. The service must notice, restart it on the same socket
// (the killed one leaves its socket file behind), and answer the gap with fast 503s; afterwards
// every payment sent in the gap completes on Genstore's retry, charged once, with one result
// reported to Genstore.
let genstore: FakeGenstore;
let dataDir: string;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  genstore = await startFakeGenstore();
  dataDir = mkdtempSync(join(tmpdir(), "genstore-dbkill-"));
});
afterAll(async () => {
  service?.child.kill("SIGTERM");
  await service?.exited;
  await genstore.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The local ports a process listens on over TCP (IPv4 and IPv6), from /proc. */
function tcpListenersOf(pid: number): number[] {
  // A descriptor may close between listing and reading it.
  const target = (fd: string) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return "";
    }
  };
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(target(fd));
    if (m) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"])
    for (const line of readFileSync(`/proc/net/${table}`, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is f[1] ("ADDR:PORT" in hex), st is f[3] (0A: LISTEN), inode is f[9].
      if (f[3] === "0A" && inodes.has(f[9] ?? "")) ports.push(parseInt(f[1]!.split(":")[1]!, 16));
    }
  return ports;
}

interface Answer {
  id: string;
  status: number;
  ms: number;
  at: number;
}

const logLines = (s: ServiceProcess) =>
  s.output
    .join("")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test("SIGKILL of the embedded database under load: restarted on its socket within a second, every answer of the gap 200 or 503 within 2 s, every payment completed on retry", async () => {
  service = await startServiceProcess({
    DATA_DIR: dataDir,
    CACHE_DIR: resolve(__dirname, "../../.cache"),
    GENSTORE_CALLBACK_BASE_URL: genstore.url,
    GENSTORE_ACCESS_TOKEN: "tok-dbkill",
    RECONCILE_INTERVAL_MS: "200",
    RECONCILE_MIN_AGE_MS: "500",
    CALLBACK_SCAN_MS: "300",
  });
  const s = service;
  const listening = logLines(s).find((l) => l.msg === "listening");
  const pid = Number(listening?.databasePid);
  expect(pid).toBeGreaterThan(0);
  // Only this user reaches it: a socket in the owner-only data directory, no TCP port at all.
  const socket = unixSocketOf(dataDir)!;
  expect(String(listening?.database)).toContain(encodeURIComponent(socket));
  expect(statSync(socket).isSocket()).toBe(true);
  expect(statSync(dirname(socket)).mode & 0o777).toBe(0o700);
  expect(tcpListenersOf(pid)).toEqual([]);
  const databaseUri = /mongodb:\/\/\S+?\//.exec(String(listening?.database))?.[0] ?? "";
  const publicKey = ((await (await fetch(`${s.url}/genstore/v1/card-encryption-key`)).json()) as { publicKey: string }).publicKey;
  const run = randomBytes(3).toString("hex");
  const bodies = new Map<string, Record<string, unknown>>();
  const body = (id: string) => {
    const b = JSON.parse(examples.cardPayment);
    b.paymentId = id;
    b.manualCapture = "false";
    b.paymentMethod.data = { ...encryptLikeGenstore(publicKey, testCard("4242424242424242")), returnUrl: "https://shop.example/back" };
    bodies.set(id, b);
    return b;
  };
  const pay = async (b: Record<string, unknown>): Promise<Answer> => {
    const started = Date.now();
    const res = await fetch(`${s.url}/genstore/v1/payments/card`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) });
    await res.arrayBuffer();
    return { id: String(b.paymentId), status: res.status, ms: Date.now() - started, at: started };
  };

  // Two Genstore workers, each a payment every 500 ms or so: about 4 per second.
  const answers: Answer[] = [];
  let n = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const a = await pay(body(`DK${run}-${++n}`));
      answers.push(a);
      if (a.ms < 500) await new Promise((r) => setTimeout(r, 500 - a.ms));
    }
  };
  const workers = [worker(), worker()];
  await waitFor("a few payments before the kill", () => answers.filter((a) => a.status === 200).length >= 4, 20_000, 50);
  const killedAt = Date.now();
  process.kill(pid, "SIGKILL");
  // A burst right at the kill: the supervisor restarts FerretDB in well under a second, so these
  // are sure to meet the gap.
  answers.push(...(await Promise.all(Array.from({ length: 4 }, () => pay(body(`DK${run}-${++n}`))))));
  const restarted = await waitFor("the service to restart its database", () => logLines(s).find((l) => l.msg === "embedded database restarted"), 20_000, 50);
  const restartSeenAt = Date.now();
  // Load goes on until payments succeed again on the restarted database.
  const back = await waitFor("a payment to succeed after the restart", () => answers.find((a) => a.at >= restartSeenAt && a.status === 200), 20_000, 50);
  stop = true;
  await Promise.all(workers);

  // The gap: every answer honest and fast, none a 500; the service noticed and said so.
  const gap = answers.filter((a) => a.at + a.ms > killedAt && a.at < back.at);
  expect(gap.length).toBeGreaterThan(0);
  for (const a of gap)
    expect({ id: a.id, status: a.status === 200 || a.status === 503 ? "ok" : a.status, within2s: a.ms <= 2000 || a.ms }).toEqual({
      id: a.id,
      status: "ok",
      within2s: true,
    });
  // FerretDB is back in well under a second, so a request of the gap may ride it out (the
  // driver waits up to the bound for a server) or get its 503: either way within 2 s, never a 500.
  if (back.at - killedAt >= 10_000) {
    // Once in a clean-clone run it took 18 s: say what the service saw, so that the next time tells why.
    const seen = logLines(s).filter((l) => /database|monitor|ferretdb/i.test(`${String(l.msg)} ${String(l.detail ?? "")}`));
    process.stdout.write(`database kill: back after ${back.at - killedAt} ms; the service logged:\n${seen.map((l) => JSON.stringify(l)).join("\n")}\n`);
  }
  expect(back.at - killedAt).toBeLessThan(10_000);
  const exited = logLines(s).find((l) => l.msg === "embedded database exited");
  expect(exited).toMatchObject({ level: "error" });
  expect(String(exited?.detail)).toContain(`pid ${pid}`);
  expect(restarted).toMatchObject({ level: "info" });
  expect(s.child.exitCode).toBeNull();
  const worst = Math.max(...gap.map((a) => a.ms));
  process.stdout.write(
    `database kill: restart logged within ${restartSeenAt - killedAt} ms; ${gap.length} answers from the kill to the first success after it, ${gap.filter((a) => a.status === 503).length} of them 503, slowest ${worst} ms\n`,
  );
  expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  await waitFor("/readyz to say ready", async () => (await fetch(`${s.url}/readyz`)).status === 200, 10_000, 100);

  // Genstore retries what got a 503; then every payment is captured, charged once, reported once.
  const refused = answers.filter((a) => a.status !== 200).map((a) => a.id);
  await waitFor(
    "the refused payments to be taken on retry",
    async () => {
      for (const id of [...refused]) if ((await pay(bodies.get(id) ?? {})).status === 200) refused.splice(refused.indexOf(id), 1);
      return refused.length === 0;
    },
    20_000,
    200,
  );
  const client = new MongoClient(databaseUri);
  try {
    const db = client.db("genstore_payments");
    const ids = [...bodies.keys()];
    await waitFor(
      "every payment to be captured",
      async () => (await db.collection("payments").countDocuments({ genstoreId: { $in: ids }, state: "captured" })) === ids.length,
      20_000,
      100,
    );
    // The embedded database's service keeps the sandbox's books in a file: the kill left them whole.
    const books = await sandboxFileBooks(dataDir);
    for (const p of await db
      .collection("payments")
      .find({ genstoreId: { $in: ids } })
      .toArray())
      expect(books.filter((e) => e.key.endsWith(`/${String((decodeEntries(p) as unknown as typeof p).idempotencyKey)}`))).toHaveLength(1);
    await genstore.waitFor((calls) => ids.every((id) => calls.some((c) => c.status === 200 && c.path.endsWith(`/payment/${id}`))), 20_000);
    for (const id of ids) {
      const heard = genstore.acknowledged().filter((c) => c.path.endsWith(`/payment/${id}`));
      expect(new Set(heard.map((c) => JSON.stringify(c.body)))).toEqual(
        new Set([JSON.stringify({ paymentId: id, status: true, channelPaymentId: heard[0]?.body.channelPaymentId })]),
      );
    }
  } finally {
    await client.close();
  }
}, 120_000);

test("a database that cannot come back within DATABASE_RESTART_WITHIN_MS: the service says why and exits 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "genstore-dbgone-"));
  const s = await startServiceProcess({ DATA_DIR: dir, CACHE_DIR: resolve(__dirname, "../../.cache"), DATABASE_RESTART_WITHIN_MS: "2000" });
  try {
    const listening = logLines(s).find((l) => l.msg === "listening");
    const socket = unixSocketOf(dir)!;
    expect(String(listening?.database)).toContain(encodeURIComponent(socket));
    process.kill(Number(listening?.databasePid), "SIGKILL");
    // Something else takes the socket before the supervisor's first restart (100 ms later): the
    // launcher removes a socket nothing answers on, never one in use.
    const squatter = createServer();
    await waitFor(
      "the socket to be free to take",
      () =>
        new Promise<boolean>((done) => {
          rmSync(socket, { force: true });
          squatter.once("error", () => done(false)).listen(socket, () => done(true));
        }),
      5000,
      5,
    );
    try {
      expect(await s.exited).toBe(1);
    } finally {
      squatter.close();
    }
    const lines = logLines(s);
    expect(lines.find((l) => l.msg === "embedded database exited")).toMatchObject({ level: "error" });
    expect(lines.find((l) => String(l.msg).startsWith("the database cannot be recovered"))).toMatchObject({
      level: "error",
      error: expect.stringMatching(/did not come back within 2000 ms.*in use by another process/),
    });
  } finally {
    s.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
