import { closeSync, openSync } from "node:fs";
import type { DatabaseSync } from "node:sqlite";
import { ledgerId, type LedgerEntry, type SandboxLedger } from "./ledger.js";

/** The sandbox's books in an SQLite file of its own, for an instance whose data stays on its machine. */
export interface SandboxFileLedger extends SandboxLedger {
  close(): void;
}

const DATES = ["createdAt", "updatedAt", "settlesAt"] as const;

/**
 * A PSP keeps its books apart from ours, and its bookkeeping is not our database's work: in a
 * file beside the embedded database, through Node's own SQLite, a booking costs no command of
 * ours (README, Performance). Several instances share one database, and so need the database
 * ledger (ledger.ts). WAL with synchronous=NORMAL: a crash of this process loses nothing; a power
 * loss may roll back the last bookings, as the sandbox moves no money.
 */
export function createSandboxFileLedger(path: string): SandboxFileLedger {
  // Created owner-only before SQLite opens it; its -wal and -shm files take the same mode.
  closeSync(openSync(path, "a", 0o600));
  const db = new (loadSqlite().DatabaseSync)(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000");
  // Every lookup is by id; the listing of all entries (tests, audits) filters here.
  db.exec("CREATE TABLE IF NOT EXISTS ledger (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, entry TEXT NOT NULL)");
  // ON CONFLICT, not OR IGNORE: only a second claim of an _id is ignored, a bad row still fails.
  const insert = db.prepare("INSERT INTO ledger (id, created_at, entry) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING");
  const select = db.prepare("SELECT entry FROM ledger WHERE id = ?");
  const write = db.prepare("UPDATE ledger SET entry = ? WHERE id = ?");
  const scan = db.prepare("SELECT entry FROM ledger ORDER BY created_at, rowid");
  const byId = (id: string): LedgerEntry | null => {
    const row = select.get(id) as { entry: string } | undefined;
    return row ? decode(row.entry) : null;
  };
  let open = true;
  // Synchronous calls: a read and the write that follows it are one step of the event loop. Each
  // method still answers with a promise, failures included, as the database ledger does.
  const step = <T>(work: () => T): Promise<T> => {
    try {
      if (!open) throw new Error("the sandbox's books are closed (the service is stopping)");
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };
  return {
    claim: (entry) =>
      step(() => {
        const inserted = insert.run(entry._id, entry.createdAt.getTime(), JSON.stringify(entry));
        if (inserted.changes === 1) return { inserted: true, entry };
        const existing = byId(entry._id);
        if (!existing) throw new Error(`sandbox ledger: ${entry._id} neither inserted nor found`);
        return { inserted: false, entry: existing };
      }),
    byKey: (type, merchant, key) => step(() => byId(ledgerId(type, merchant, key))),
    byReference: (reference) => step(() => (reference.startsWith("ch_") ? byId(reference) : null)),
    update: (id, set) =>
      step(() => {
        const current = byId(id);
        if (!current) return;
        const next = { ...current, ...set, updatedAt: new Date() };
        write.run(JSON.stringify(next), id);
      }),
    all: (filter = {}) =>
      step(() => {
        const wanted = Object.entries(filter);
        return (scan.all() as { entry: string }[]).map((r) => decode(r.entry)).filter((e) => wanted.every(([k, v]) => e[k as keyof LedgerEntry] === v));
      }),
    close() {
      if (open) db.close();
      open = false;
    },
  };
}

function decode(text: string): LedgerEntry {
  const entry = JSON.parse(text) as Record<string, unknown>;
  for (const k of DATES) if (typeof entry[k] === "string") entry[k] = new Date(entry[k]);
  return entry as unknown as LedgerEntry;
}

/**
 * node:sqlite, loaded only when the sandbox keeps its books in a file. Node 22 calls it
 * experimental and says so on stderr once; that line is not for our operators.
 */
function loadSqlite(): { DatabaseSync: typeof DatabaseSync } {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(typeof warning === "string" ? warning : warning.message).startsWith("SQLite is an experimental feature")) return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return process.getBuiltinModule("node:sqlite");
  } finally {
    process.emitWarning = emit;
  }
}
