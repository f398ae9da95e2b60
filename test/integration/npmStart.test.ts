import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ferretdbProcesses, npmStart, portClosed, type NpmStarted } from "../helpers/npmStart";
import { waitFor } from "../helpers/waitFor";

// The service as a new user runs it: `npm start` in the repository (prestart builds dist/ when
// stale, then npm runs node), with the embedded FerretDB.
let work: string;
const started: NpmStarted[] = [];
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "genstore-npm-start-"));
});
afterEach(() => {
  // A failed test may leave a service that npm lost track of: end it, so the run can end too.
  for (const pid of nodes.splice(0)) if (safeCmdline(String(pid)).includes("dist/src/main.js")) killIfAlive(pid);
  for (const pid of ferretdbProcesses(join(work, "data"))) killIfAlive(pid);
  for (const s of started.splice(0)) {
    s.child.kill("SIGKILL");
    s.child.stdout?.destroy();
    s.child.stderr?.destroy();
  }
  chmodSync(work, 0o700);
  for (const entry of readdirSync(work)) {
    const path = join(work, entry);
    if (existsSync(path)) chmodSync(path, 0o700);
  }
  rmSync(work, { recursive: true, force: true });
});

function start(env: Record<string, string>, prefix: string[] = []): NpmStarted {
  const s = npmStart(env, prefix);
  started.push(s);
  return s;
}

/** Its exit code, or "listening" when it started after all (a failure test then fails at once). */
const outcome = (s: NpmStarted) => Promise.race([s.exited, s.listening().then(() => "listening")]);

const nodes: number[] = [];

/** The node process npm started: the pid in DATA_DIR's lock. */
function lockHolder(dataDir: string): number {
  const { pid } = JSON.parse(readFileSync(join(dataDir, "ferretdb.lock"), "utf8")) as { pid: number };
  nodes.push(pid);
  return pid;
}

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

const ferretdbNoise = (s: NpmStarted) => s.lines.filter((l) => String(l.msg).startsWith("ferretdb:") && l.level !== "debug");

test.each([
  ["SIGTERM", "npm start"],
  ["SIGINT", "npm start"],
  ["SIGTERM", "node"],
  ["SIGINT", "node"],
] as const)(
  "%s to the %s process closes the port and leaves no FerretDB within 15 s",
  async (signal, target) => {
    const dataDir = join(work, "data");
    const s = start({ PORT: "0", DATA_DIR: dataDir });
    const url = await s.listening(110_000);
    const port = Number(new URL(url).port);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(ferretdbProcesses(dataDir)).toHaveLength(1);
    const node = lockHolder(dataDir);
    expect(node).not.toBe(s.child.pid);

    process.kill(target === "node" ? node : s.child.pid!, signal);
    const at = Date.now();
    await waitFor("the port closed and FerretDB gone", async () => (await portClosed(port)) && ferretdbProcesses(dataDir).length === 0, 15_000, 50);
    expect(Date.now() - at).toBeLessThan(15_000);
    expect(await s.exited).toBe(0);
    expect(s.lines.map((l) => l.msg)).toEqual(expect.arrayContaining([`${signal}: shutting down`, "stopped"]));
    expect(existsSync(join(dataDir, "ferretdb.lock"))).toBe(false);
    // A clean stop is quiet: FerretDB's wire dumps and connection resets stay at debug.
    expect(ferretdbNoise(s)).toEqual([]);
    expect(s.stderr).toEqual([]);
  },
  120_000,
);

test("a stop with the database hung still ends within SHUTDOWN_TIMEOUT_MS + 5 s, FerretDB included", async () => {
  const dataDir = join(work, "data");
  const s = start({ PORT: "0", DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: "1000" });
  const port = Number(new URL(await s.listening()).port);
  const [ferretdb] = ferretdbProcesses(dataDir);
  // Frozen: it answers nothing and ignores SIGTERM until it is killed.
  process.kill(ferretdb!, "SIGSTOP");
  const at = Date.now();
  process.kill(lockHolder(dataDir), "SIGTERM");
  await waitFor("the port closed and FerretDB gone", async () => (await portClosed(port)) && ferretdbProcesses(dataDir).length === 0, 10_000, 50);
  expect(Date.now() - at).toBeLessThan(1_000 + 5_000);
  expect(await s.exited).toBe(0);
  expect(s.lines.map((l) => l.msg)).toContain("stopped");
}, 120_000);

test("a second instance on the same DATA_DIR refuses to start and names the first; after the first is killed, its lock is taken over", async () => {
  const dataDir = join(work, "data");
  const first = start({ PORT: "0", DATA_DIR: dataDir });
  const url = await first.listening();
  const holder = lockHolder(dataDir);

  const second = start({ PORT: "0", DATA_DIR: dataDir });
  expect(await outcome(second)).toBe(1);
  expect(second.stderr).toHaveLength(1);
  expect(second.stderr[0]).toMatch(
    new RegExp(
      `^genstore-payment-app: cannot start: DATA_DIR ${dataDir} is in use by another instance of this service \\(pid ${holder}, started \\S+, listening at ${url}\\): its embedded database cannot be shared; stop that instance, or set another DATA_DIR or MONGODB_URI$`,
    ),
  );
  // The first one is untouched: it serves, with its one FerretDB.
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
  expect(ferretdbProcesses(dataDir)).toHaveLength(1);

  // Killed without a chance to clean up: its FerretDB follows (its stdin closes), the lock stays.
  process.kill(holder, "SIGKILL");
  await waitFor("the killed instance's FerretDB to go", () => ferretdbProcesses(dataDir).length === 0, 10_000);
  expect(existsSync(join(dataDir, "ferretdb.lock"))).toBe(true);
  const third = start({ PORT: "0", DATA_DIR: dataDir });
  const thirdUrl = await third.listening();
  expect(lockHolder(dataDir)).not.toBe(holder);
  expect((await fetch(`${thirdUrl}/healthz`)).status).toBe(200);
  third.child.kill("SIGTERM");
  expect(await third.exited).toBe(0);
}, 120_000);

test("a stop during the first start ends the FerretDB build and the start-up at once", async () => {
  // A cache of its own: the launcher is built (modules and packages come from Go's own caches).
  const cacheDir = join(work, "cache");
  const s = start({ PORT: "0", DATA_DIR: join(work, "data"), CACHE_DIR: cacheDir });
  await waitFor("the build's progress", () => s.lines.find((l) => String(l.msg).startsWith("building the embedded FerretDB: ")), 60_000);
  const goBuilds = () => readdirSync("/proc").filter((p) => /^\d+$/.test(p) && safeCmdline(p).includes(cacheDir));
  await waitFor("go build to run", () => goBuilds().length > 0, 10_000);
  s.child.kill("SIGTERM");
  expect(await s.exited).toBe(0);
  expect(s.lines.map((l) => l.msg)).toContain("stopped during start-up");
  await waitFor("no go build left", () => goBuilds().length === 0, 5_000);
  // Nothing half-built is left to be mistaken for the binary.
  expect(readdirSync(join(cacheDir, "ferretdb")).flatMap((d) => readdirSync(join(cacheDir, "ferretdb", d)))).toEqual([]);
}, 90_000);

function safeCmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

// Root passes every permission check: drop the capabilities that let it, so "unwritable" and
// "privileged port" mean for root what they mean for everyone else.
const asRoot = process.getuid?.() === 0;
const withoutOverride = asRoot ? ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] : [];
const withoutBindService = asRoot ? ["setpriv", "--bounding-set", "-net_bind_service", "--"] : [];
const privilegedPortsExist = Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8")) > 80;

let blocker: Server | undefined;
afterEach(() => blocker?.close());

const failures: [string, () => Promise<{ env: Record<string, string>; prefix?: string[] }>, (w: string) => RegExp][] = [
  [
    "the port already in use",
    async () => {
      blocker = createServer();
      await new Promise<void>((r) => blocker!.listen(0, r));
      return { env: { PORT: String((blocker.address() as { port: number }).port), DATA_DIR: join(work, "data") } };
    },
    () => /^PORT \d+ is already in use on 0\.0\.0\.0: stop the process listening there, or set PORT to a free port$/,
  ],
  [
    "DATA_DIR naming a file",
    async () => {
      writeFileSync(join(work, "file"), "");
      return { env: { PORT: "0", DATA_DIR: join(work, "file") } };
    },
    (w) => new RegExp(`^DATA_DIR ${w}/file is a file, not a folder: set DATA_DIR to a folder \\(it is created when missing\\)$`),
  ],
  [
    "DATA_DIR below a file",
    async () => {
      writeFileSync(join(work, "file"), "");
      return { env: { PORT: "0", DATA_DIR: join(work, "file", "data") } };
    },
    (w) => new RegExp(`^DATA_DIR ${w}/file/data cannot be used: part of that path is a file, not a folder; set DATA_DIR to a folder path$`),
  ],
  [
    "DATA_DIR not writable",
    async () => {
      mkdirSync(join(work, "data"), { mode: 0o500 });
      return { env: { PORT: "0", DATA_DIR: join(work, "data") }, prefix: withoutOverride };
    },
    (w) => new RegExp(`^DATA_DIR ${w}/data is not writable by this user \\(uid \\d+\\): give it to this user, or set DATA_DIR to a folder it can write$`),
  ],
  [
    "DATA_DIR that cannot be created",
    async () => {
      mkdirSync(join(work, "locked"), { mode: 0o500 });
      return { env: { PORT: "0", DATA_DIR: join(work, "locked", "data") }, prefix: withoutOverride };
    },
    (w) =>
      new RegExp(
        `^DATA_DIR ${w}/locked/data cannot be created or reached by this user \\(EACCES\\): create it for this user, or set DATA_DIR to a folder it can write$`,
      ),
  ],
  [
    "CACHE_DIR below a file",
    async () => {
      writeFileSync(join(work, "file"), "");
      return { env: { PORT: "0", DATA_DIR: join(work, "data"), CACHE_DIR: join(work, "file", "cache") } };
    },
    (w) =>
      new RegExp(
        `^CACHE_DIR ${w}/file/cache cannot be written \\(ENOTDIR\\): set CACHE_DIR to a folder this user can write \\(the embedded FerretDB is built there\\)$`,
      ),
  ],
  [
    "a MONGODB_URI the driver cannot parse",
    async () => ({ env: { PORT: "0", DATA_DIR: join(work, "data"), MONGODB_URI: "mongodb://127.0.0.1/?foo=bar" } }),
    () => /^MONGODB_URI is not a MongoDB connection string \(option foo is not supported\): fix it, or unset it for the embedded database$/,
  ],
];
if (privilegedPortsExist)
  failures.push([
    "a privileged port",
    async () => ({ env: { PORT: "80", DATA_DIR: join(work, "data") }, prefix: withoutBindService }),
    () => /^PORT 80 on 0\.0\.0\.0 needs privileges this user does not have \(EACCES\): set PORT above 1023 \(8080, behind a proxy\)$/,
  ]);

test.each(failures)(
  "start-up fails with one line and exit code 1 on %s, stopping what it had started (stack at debug)",
  async (_name, setup, message) => {
    const { env, prefix } = await setup();
    const s = start({ ...env, LOG_LEVEL: "debug" }, prefix);
    expect(await outcome(s)).toBe(1);
    expect(s.stderr).toHaveLength(1);
    expect(s.stderr[0]).toMatch(/^genstore-payment-app: cannot start: /);
    expect(s.stderr[0]!.slice("genstore-payment-app: cannot start: ".length)).toMatch(message(work));
    // The stack is in one debug entry, not in the output's text.
    expect(s.lines.filter((l) => l.msg === "start-up failed")).toEqual([
      expect.objectContaining({ level: "debug", stack: expect.stringContaining("\n    at ") }),
    ]);
    expect(s.lines.filter((l) => typeof l.raw === "string" && /^\s+at /.test(l.raw))).toEqual([]);
    expect(ferretdbProcesses(env.DATA_DIR!)).toEqual([]);
    expect(existsSync(join(env.DATA_DIR!, "ferretdb.lock"))).toBe(false);
  },
  60_000,
);
