import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { register } from "tsx/cjs/api";
import type { EmbeddedDatabase } from "../../src/store/embeddedDatabase";
import { ensureStripeMock, startStripeMock, type StripeMock } from "./stripeMock";
import { ensureToxiproxy } from "./toxiproxy";

/**
 * One real embedded FerretDB and one stripe-mock for the whole run (decisions.md D13); each test file
 * uses its own database.
 */
export default async function globalSetup(): Promise<void> {
  // dist/ once, before any test runs npm start: two files starting it at once would otherwise
  // both compile into dist/, and a full compile beside timing-sensitive tests skews them.
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-b", ".ci/tsconfig.build.json"], {
    cwd: resolve(__dirname, "../.."),
    stdio: "inherit",
  });
  if (!process.env.STRIPE_MOCK_URL) {
    const exe = ensureStripeMock(resolve(__dirname, "../../.cache"), (line) => process.stdout.write(`[stripe-mock] ${line}\n`));
    const mock = await startStripeMock(exe);
    process.env.STRIPE_MOCK_URL = mock.url;
    (globalThis as { __stripeMock?: StripeMock }).__stripeMock = mock;
  }
  // The fault tests start their own; installing it here keeps its one-time build out of their time.
  ensureToxiproxy(resolve(__dirname, "../../.cache"), (line) => process.stdout.write(`[toxiproxy] ${line}\n`));
  if (process.env.TEST_MONGODB_URI) return;
  const dataDir = mkdtempSync(join(tmpdir(), "genstore-test-db-"));
  // Jest does not map src/'s ".js" import specifiers to .ts files in globalSetup; tsx does.
  const tsx = register({ namespace: "globalSetup" });
  const { startEmbeddedDatabase } = tsx.require("../../src/store/embeddedDatabase.ts", __filename) as typeof import("../../src/store/embeddedDatabase");
  const db = await startEmbeddedDatabase({
    dataDir,
    cacheDir: resolve(__dirname, "../../.cache"),
    log: (entry) => {
      if (String(entry.msg).startsWith("build")) process.stdout.write(`[test database] ${String(entry.msg)}\n`);
    },
  });
  process.env.TEST_MONGODB_URI = db.uri;
  process.env.TEST_DATA_DIR = dataDir;
  (globalThis as { __testDatabase?: EmbeddedDatabase }).__testDatabase = db;
}
