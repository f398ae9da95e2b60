import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ConnectorHost } from "../module.js";
import { createSandboxFileLedger, type SandboxFileLedger } from "./fileLedger.js";
import { createSandboxLedger, SANDBOX_LEDGER_COLLECTION, type SandboxLedger } from "./ledger.js";

const BOOKS = ["auto", "file", "database"] as const;
export type BooksSetting = (typeof BOOKS)[number];

/** SANDBOX_BOOKS; a file cannot be shared by instances (SHARED_DATABASE, read as config.ts reads it). */
export function booksSetting(env: Record<string, string | undefined>): BooksSetting {
  const raw = env.SANDBOX_BOOKS || "auto";
  const books = BOOKS.find((b) => b === raw);
  if (!books) throw new Error(`SANDBOX_BOOKS must be auto, file or database, got "${raw}"`);
  if (books === "file" && /^(true|1|yes)$/i.test(env.SHARED_DATABASE ?? ""))
    throw new Error("SANDBOX_BOOKS=file cannot be used with SHARED_DATABASE: the instances must share the sandbox's books, in the database");
  return books;
}

/**
 * The sandbox's books (README "The sandbox PSP"): a file only for an instance whose data is its own
 * (host.files). With "auto" beside the embedded database, books an earlier version kept in the
 * database stay there: a new, empty file would forget charges still pending or authorized, and the
 * reconciler would read "no such charge" as declined. That is decided at the first use.
 */
export function chooseSandboxLedger(books: BooksSetting, host: ConnectorHost): { ledger: SandboxLedger; close: () => void } {
  const files = host.files;
  if (books === "file" && !files) throw new Error("SANDBOX_BOOKS=file needs a folder of this instance's own (DATA_DIR, without SHARED_DATABASE)");
  const inDatabase = createSandboxLedger(host.db);
  if (!files || books === "database" || (books === "auto" && !files.embeddedDatabase)) return { ledger: inDatabase, close: () => {} };
  const path = join(files.dir, "ledger.sqlite");
  let file: SandboxFileLedger | undefined;
  const openFile = () => {
    mkdirSync(files.dir, { recursive: true, mode: 0o700 });
    return (file = createSandboxFileLedger(path));
  };
  if (books === "file" || existsSync(path)) return { ledger: openFile(), close: () => file?.close() };

  let chosen: Promise<SandboxLedger> | undefined;
  const choose = () =>
    (chosen ??= (async () => {
      const kept = await host.db.collection(SANDBOX_LEDGER_COLLECTION).findOne({}, { projection: { _id: 1 } });
      if (!kept) return openFile();
      host.log({
        level: "info",
        msg: "the sandbox keeps its books in the database, where an earlier version of this service began them",
        database: host.db.databaseName,
      });
      return inDatabase;
    })().catch((err: unknown) => {
      chosen = undefined; // the database was unreachable: ask again at the next use
      throw err;
    }));
  const ledger: SandboxLedger = {
    claim: (entry) => choose().then((l) => l.claim(entry)),
    byKey: (type, merchant, key) => choose().then((l) => l.byKey(type, merchant, key)),
    byReference: (reference) => choose().then((l) => l.byReference(reference)),
    update: (id, set) => choose().then((l) => l.update(id, set)),
    all: (filter) => choose().then((l) => l.all(filter)),
  };
  return { ledger, close: () => file?.close() };
}
