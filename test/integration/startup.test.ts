import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { MongoClient } from "mongodb";
import examples from "../fixtures/apiPageExamples.json";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { processOutput } from "../helpers/processOutput";

// src/main.ts run by tsx, straight from the sources; npmStart.test.ts runs the README's `npm start`.
const root = resolve(__dirname, "../..");
const tsx = join(root, "node_modules/.bin/tsx");

interface Started {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: string[];
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Started {
  // A process group of its own: tsx runs the service as its child, and a failed test must not
  // leave that child (and its FerretDB) running when it kills tsx.
  const child = spawn(tsx, ["src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const { lines, stderr, exited } = processOutput(child);
  return { child, lines, stderr, exited };
}

/** SIGKILL to the whole group: tsx, the service and what it started. */
function killAll(s: Started): void {
  try {
    process.kill(-s.child.pid!, "SIGKILL");
  } catch {
    // already gone
  }
}

async function waitFor<T>(fn: () => T | undefined, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "genstore-start-"));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

/** Every path under `dir` with its permission bits. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string) => {
    const st = lstatSync(path);
    out[path.slice(dir.length) || "/"] = (st.mode & 0o777).toString(8);
    if (st.isDirectory()) for (const e of readdirSync(path)) walk(join(path, e));
  };
  walk(dir);
  return out;
}

test("with MONGODB_URI unset it starts its own FerretDB, prints the URL and key, answers, and stops both on SIGTERM", async () => {
  // A DATA_DIR left readable by others (a copied backup, say) is made private at start-up.
  chmodSync(dataDir, 0o755);
  writeFileSync(join(dataDir, "notes.txt"), "left by an operator", { mode: 0o644 });
  const s = start({ PORT: "0", DATA_DIR: dataDir, CACHE_DIR: join(root, ".cache") });
  try {
    const listening = await waitFor(() => s.lines.find((l) => l.msg === "listening"), 60_000);
    expect(s.lines.find((l) => String(l.msg).startsWith("DATA_DIR was readable by other users"))).toMatchObject({ level: "warn", paths: 2 });
    const keyLine = await waitFor(() => s.lines.find((l) => typeof l.publicKey === "string"), 5_000);
    const url = String(listening.url);
    // On a socket in the data directory, not a port any local user could reach.
    const socket = join(dataDir, "ferretdb", "ferretdb.sock");
    expect(String(listening.database)).toMatch(new RegExp(`^embedded FerretDB at mongodb://${encodeURIComponent(socket)}/`));
    const served = (await (await fetch(`${url}/genstore/v1/card-encryption-key`)).json()) as { publicKey: string };
    expect(served.publicKey).toBe(keyLine.publicKey);
    const res = await fetch(`${url}/genstore/v1/payments/nope`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ channelPaymentId: "", status: "PROCESSING", error: "Not found payment information." });
    // A payment, so that FerretDB and the sandbox have written their files.
    const body = { ...JSON.parse(examples.cardPayment), paymentId: "START-1", paymentMethod: { data: encryptLikeGenstore(served.publicKey, testCard()) } };
    const paid = await fetch(`${url}/genstore/v1/payments/card`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(await paid.json()).toEqual({ threeDsUrl: "", error: "" });

    // The database files FerretDB made, the sandbox's books, the generated keys and the folders: this user's only.
    const found = modes(dataDir);
    expect(Object.keys(found).filter((p) => p.endsWith(".sqlite"))).toEqual(
      expect.arrayContaining(["/psp/sandbox/ledger.sqlite", expect.stringMatching(/^\/ferretdb\//)]),
    );
    expect(found["/ferretdb/ferretdb.sock"]).toBe("700");
    for (const [path, mode] of Object.entries(found)) {
      const st = lstatSync(join(dataDir, path));
      expect([path, mode]).toEqual([path, st.isDirectory() || st.isSocket() ? "700" : "600"]);
    }

    const dbUri = /mongodb:\/\/\S+/.exec(String(listening.database))?.[0] ?? "";
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    // FerretDB went with it, and took its socket.
    expect(existsSync(socket)).toBe(false);
    const client = new MongoClient(dbUri, { serverSelectionTimeoutMS: 1000 });
    await expect(client.connect()).rejects.toThrow();
    await client.close();
  } finally {
    killAll(s);
  }
}, 90_000);

test("with MONGODB_URI set it uses that server and keeps its generated dev key across restarts", async () => {
  const env = { PORT: "0", DATA_DIR: dataDir, MONGODB_URI: process.env.TEST_MONGODB_URI ?? "", MONGODB_DATABASE: "startup_test" };
  const keys: unknown[] = [];
  for (let i = 0; i < 2; i++) {
    const s = start(env);
    try {
      const listening = await waitFor(() => s.lines.find((l) => l.msg === "listening"), 30_000);
      expect(listening.database).toBe(env.MONGODB_URI);
      keys.push((await waitFor(() => s.lines.find((l) => typeof l.publicKey === "string"), 5_000)).publicKey);
      s.child.kill("SIGTERM");
      expect(await s.exited).toBe(0);
    } finally {
      killAll(s);
    }
  }
  expect(keys[0]).toBe(keys[1]);
}, 60_000);

test.each([
  [
    "no Go and no MONGODB_URI",
    () => ({ PATH: dirname(process.execPath) }),
    /^genstore-payment-app: cannot start: MONGODB_URI is not set and Go \(>= 1\.24\) is not on PATH/,
  ],
  [
    "an unreachable MONGODB_URI",
    () => ({ MONGODB_URI: "mongodb://127.0.0.1:1/" }),
    /^genstore-payment-app: cannot start: cannot reach MongoDB at mongodb:\/\/127\.0\.0\.1:1\//,
  ],
  [
    "a DATA_DIR too long for the embedded database's socket",
    () => ({ DATA_DIR: join(dataDir, "d".repeat(100)) }),
    /^genstore-payment-app: cannot start: DATA_DIR \S+ is too long for the embedded database's socket .*set EMBEDDED_DATABASE_PORT/,
  ],
  ["a bad PORT", () => ({ PORT: "eighty" }), /^genstore-payment-app: cannot start: PORT must be a whole number, got "eighty"$/],
  [
    "production without a card key",
    () => ({ NODE_ENV: "production", GENSTORE_CLIENT_SECRET: "cs_prod", DEFAULT_SHOP_PSP: "none", MONGODB_URI: "mongodb://127.0.0.1:1/" }),
    /^genstore-payment-app: cannot start: no card decryption key/,
  ],
  [
    "production without a client secret",
    () => ({ NODE_ENV: "production", DEFAULT_SHOP_PSP: "none" }),
    /^genstore-payment-app: cannot start: GENSTORE_CLIENT_SECRET is required in production/,
  ],
  [
    "production with signatures switched off",
    () => ({ NODE_ENV: "production", GENSTORE_CLIENT_SECRET: "cs_prod", REQUIRE_GENSTORE_SIGNATURE: "false" }),
    /^genstore-payment-app: cannot start: REQUIRE_GENSTORE_SIGNATURE=false is refused in production/,
  ],
  [
    "production with a sandbox default shop taking live payments",
    () => ({ NODE_ENV: "production", GENSTORE_CLIENT_SECRET: "cs_prod" }),
    /^genstore-payment-app: cannot start: in production the default shop cannot use the sandbox PSP, which moves no money/,
  ],
  [
    "a NODE_ENV that is neither production nor development",
    () => ({ NODE_ENV: "Prod" }),
    /^genstore-payment-app: cannot start: NODE_ENV must be production, development or test, got "Prod"/,
  ],
])(
  "start-up fails with one clear line on %s",
  async (_name, env, message) => {
    const s = start({ PORT: "0", DATA_DIR: dataDir, ...env() });
    expect(await s.exited).toBe(1);
    expect(s.stderr).toHaveLength(1);
    expect(s.stderr[0]).toMatch(message);
  },
  30_000,
);
