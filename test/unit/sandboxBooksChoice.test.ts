import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import type { ConnectorHost } from "../../src/psp/module";
import { sandboxModule } from "../../src/psp/sandbox/module";

// Which books the sandbox opens; the driver is never connected (a database ledger only names its collection).
let dir: string;
const client = new MongoClient("mongodb://127.0.0.1:9/never");
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "books-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
afterAll(() => client.close());

const host = (files: ConnectorHost["files"]): ConnectorHost => ({ db: client.db("x_sandbox"), files, publicUrl: () => "http://127.0.0.1", log: () => {} });

test.each([
  ["auto", true, true],
  ["auto", false, false],
  ["file", false, true],
  ["database", true, false],
] as const)("SANDBOX_BOOKS=%s, embedded database %s: books in a file: %s", async (books, embeddedDatabase, inFile) => {
  const own = join(dir, "psp", "sandbox");
  const instance = sandboxModule.create({ ...sandboxModule.settings({ SANDBOX_BOOKS: books }) }, host({ dir: own, embeddedDatabase }));
  await instance.stop?.();
  expect(existsSync(join(own, "ledger.sqlite"))).toBe(inFile);
});

test("without a directory of its own (instances sharing a database), the books stay in the database", async () => {
  const instance = sandboxModule.create(sandboxModule.settings({ SANDBOX_BOOKS: "auto" }), host(undefined));
  await instance.stop?.();
  expect(existsSync(join(dir, "psp"))).toBe(false);
});
