import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { procStatFields } from "../../src/runtime/procStatFields";
import { startEmbeddedDatabase, unixSocketOf } from "../../src/store/embeddedDatabase";

// Where the embedded FerretDB runs: a process group of its own, so that a Ctrl-C in the terminal
// (sent to the foreground group) reaches only the payment app, which stops it after its last
// query; but in the app's session, so that Linux's autogroup scheduler does not give it a CPU
// share of its own as large as the app's.
const cacheDir = resolve(__dirname, "../../.cache");
const dataDir = mkdtempSync(join(tmpdir(), "gs-pgrp-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** A process's group and session ids: fields 5 and 6 of /proc/<pid>/stat. */
function groupAndSession(pid: number | "self"): { pgrp: number; session: number } {
  const [, , pgrp, session] = procStatFields(pid) ?? [];
  return { pgrp: Number(pgrp), session: Number(session) };
}

test("the embedded FerretDB leads a process group of its own, in the app's session", async () => {
  const db = await startEmbeddedDatabase({ dataDir, cacheDir, unix: unixSocketOf(dataDir)! });
  try {
    const ours = groupAndSession("self");
    const its = groupAndSession(db.pid);
    expect(its.pgrp).toBe(db.pid);
    expect(its.pgrp).not.toBe(ours.pgrp);
    expect(its.session).toBe(ours.session);
  } finally {
    await db.stop();
  }
}, 120_000);
