import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startEmbeddedDatabase, unixSocketOf } from "../../src/store/embeddedDatabase";

// Where the embedded FerretDB runs: a process group of its own, so that a Ctrl-C in the terminal
// (sent to the foreground group) reaches only the payment app, which stops it after its last
// query; but in the app's session, so that Linux's autogroup scheduler does not give it a CPU
// share of its own as large as the app's.
const cacheDir = resolve(__dirname, "../../.cache");
const dataDir = mkdtempSync(join(tmpdir(), "gs-pgrp-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** A process's group and session ids from /proc (the name in parentheses may hold spaces). */
function groupAndSession(pid: number | "self"): { pgrp: number; session: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const [, , pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
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
