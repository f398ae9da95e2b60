import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { startRefusalRecorder, type RefusalRecorder } from "../helpers/refusalRecorder";
import { ensureSchemathesis, readJunit, runSt } from "../helpers/schemathesis";
import { countAllDocuments, startTestServer, type TestServer } from "../helpers/testServer";

// Schemathesis, the contract fuzzer, against the real service with the document it serves at
// /openapi.json: every route, schema-valid and schema-breaking requests, and stateful sequences
// along the document's links (create -> capture / void / refund -> get). Signatures are required,
// as in production; test/schemathesis/hooks.py signs like Genstore and gives valid card payments a
// card that decrypts. Seeded, so a run is repeatable; bounded, so it takes minutes on 2 busy cores.
const SEED = "20261130";
const MAX_EXAMPLES = "60"; // per operation; GETs, captures, voids and refunds get more (test/schemathesis/schemathesis.toml)
const MIN_CALLS_PER_OPERATION = 250;
const secret = "schemathesis-client-secret";
const root = resolve(__dirname, "../..");

let st: string;
let server: TestServer;
let recorder: RefusalRecorder;
let work: string;

beforeAll(async () => {
  st = ensureSchemathesis(join(root, ".cache"), (line) => process.stdout.write(`[schemathesis] ${line}\n`));
  server = await startTestServer({ security: { genstoreClientSecret: secret, requireSignature: true } });
  work = mkdtempSync(join(tmpdir(), "schemathesis-"));
  // Sandbox cards: approved (most), declined, and one that asks for 3-D Secure.
  const cards = ["4242424242424242", "4242424242424242", "4242424242424242", "4000000000000002", "4000000000003220"];
  writeFileSync(join(work, "packets.json"), JSON.stringify(cards.map((n) => encryptLikeGenstore(server.publicKey, testCard(n)))));
  recorder = await startRefusalRecorder(server.db, async (paymentId, error) => {
    // A signed query, as Genstore sends it (a body signature over an empty body authorizes nothing).
    const query = `paymentId=${encodeURIComponent(paymentId)}&timestamp=${Math.floor(Date.now() / 1000)}`;
    const res = await fetch(`${server.url}/genstore/v1/payments?${query}&hmac=${createHmac("sha256", secret).update(query).digest("hex")}`);
    const body = (await res.json()) as { status?: string; error?: string };
    return res.status === 200 && body.status === "FAILURE" && body.error === error;
  });
}, 300_000);

afterAll(async () => {
  await recorder?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("Schemathesis finds no server error, no answer outside the document and nothing stored for a refused request", async () => {
  const started = Date.now();
  const documentsBefore = await countAllDocuments(server.db);
  const junit = join(work, "junit.xml");
  const { code, output } = await runSt(
    st,
    [
      `--config-file=${join(root, "test/schemathesis/schemathesis.toml")}`,
      "run",
      `${server.url}/openapi.json`,
      "--checks=all",
      `--seed=${SEED}`,
      `--max-examples=${MAX_EXAMPLES}`,
      "--workers=1",
      "--continue-on-failure",
      "--generation-database=none",
      "--request-timeout=30",
      "--no-color",
      "--report=junit",
      `--report-junit-path=${junit}`,
    ],
    {
      SCHEMATHESIS_HOOKS: join(root, "test/schemathesis/hooks.py"),
      GENSTORE_CLIENT_SECRET: secret,
      GENSTORE_CARD_PACKETS: join(work, "packets.json"),
      GENSTORE_PROBE_URL: recorder.url,
    },
    work,
  );
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, object> };
  const documented = new Set(Object.entries(document.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
  const failures = readJunit(junit).filter((c) => c.failure);
  const serverErrors = server.logs.filter((l) => l.msg === "request" && typeof l.status === "number" && l.status >= 500);
  const perOperation = [...recorder.calls].sort(([a], [b]) => a.localeCompare(b));
  const total = perOperation.reduce((n, [, c]) => n + c, 0);
  const routes = perOperation.filter(([op]) => documented.has(op));
  process.stdout.write(
    `Schemathesis: ${total} requests in ${seconds} s (${recorder.refused} refused, ${recorder.stored} documents stored); per route, requests (accepted):\n` +
      `${routes.map(([op, n]) => `  ${String(n).padStart(5)} (${String(recorder.accepted.get(op) ?? 0).padStart(3)})  ${op}`).join("\n")}\n` +
      `  ${String(total - routes.reduce((n, [, c]) => n + c, 0)).padStart(5)}        to undocumented methods and paths\n`,
  );
  // Its phases and links, and everything when something failed.
  const summary = output.split("\n").filter((l) => /\((in [\d.]+s)\)|Scenarios:|API Links:|passed|failed|generated/.test(l));
  process.stdout.write(code !== 0 || failures.length ? output.slice(-20_000) : `${summary.join("\n")}\n`);
  expect(failures.map((f) => `${f.name}: ${f.failure}`)).toEqual([]);
  expect(code).toBe(0);
  expect(serverErrors).toEqual([]);
  expect(recorder.violations).toEqual([]);
  // The recorder saw every write: the database holds exactly what it counted (and payments were made).
  expect(await countAllDocuments(server.db)).toBe(documentsBefore + recorder.stored);
  expect(routes.map(([op]) => op).sort()).toEqual([...documented].sort());
  for (const [op, n] of routes) expect([op, n >= MIN_CALLS_PER_OPERATION]).toEqual([op, true]);
  // Valid payments went through (the hooks' cards decrypt) and were then read back.
  for (const op of ["POST /genstore/v1/payments/card", "POST /genstore/v1/payments/offsite", "GET /genstore/v1/payments/{paymentId}"]) {
    expect([op, (recorder.accepted.get(op) ?? 0) > 0]).toEqual([op, true]);
  }
  expect(summary.find((l) => l.includes("API Links:"))).toMatch(/API Links:\s+(1[0-5]) covered/);
}, 900_000);
