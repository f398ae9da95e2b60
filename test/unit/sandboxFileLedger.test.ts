import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSandboxFileLedger } from "../../src/psp/sandbox/fileLedger";
import { ledgerId, type LedgerEntry } from "../../src/psp/sandbox/ledger";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ledger-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const at = new Date("2026-11-30T10:00:00.123Z");
const charge = (key: string, extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  _id: ledgerId("charge", "m1", key),
  key: `m1/${key}`,
  merchant: "m1",
  mode: "test",
  type: "charge",
  reference: `ch_${key}`,
  amount: 1234,
  currency: "EUR",
  requestHash: "h1",
  status: "pending",
  capture: true,
  flow: "card",
  cardLast4: "0259",
  settlesAt: new Date(at.getTime() + 5000),
  order: { items: [{ name: "Tea", quantity: 2, unitMinor: 617 }], fields: ["email"], billingCountry: "DE" },
  createdAt: at,
  updatedAt: at,
  ...extra,
});

test("an entry reads back as written, dates as dates, after the file is closed and opened again", async () => {
  const path = join(dir, "ledger.sqlite");
  const first = createSandboxFileLedger(path);
  const entry = charge("k1");
  expect(await first.claim(entry)).toEqual({ inserted: true, entry });
  first.close();
  // Owner-only: the books name merchants and amounts.
  expect(statSync(path).mode & 0o077).toBe(0);

  const again = createSandboxFileLedger(path);
  try {
    const read = await again.byKey("charge", "m1", "k1");
    expect(read).toEqual(entry);
    expect(read?.settlesAt).toBeInstanceOf(Date);
    expect(await again.byReference(entry._id)).toEqual(entry);
    // Only charges are found by reference; an operation's _id is not a charge.
    expect(await again.byReference(`op_${entry._id.slice(3)}`)).toBeNull();
  } finally {
    again.close();
  }
});

test("a second claim of an _id inserts nothing and returns the first entry; updates and filters apply", async () => {
  const ledger = createSandboxFileLedger(join(dir, "ledger.sqlite"));
  try {
    const entry = charge("k2");
    await ledger.claim(entry);
    const replay = await ledger.claim(charge("k2", { requestHash: "other", amount: 1 }));
    expect(replay).toEqual({ inserted: false, entry });

    await ledger.update(entry._id, { status: "captured", capturedAmount: 1234 });
    const updated = await ledger.byKey("charge", "m1", "k2");
    expect(updated).toMatchObject({ status: "captured", capturedAmount: 1234, amount: 1234 });
    expect(updated!.updatedAt.getTime()).toBeGreaterThan(at.getTime());

    await ledger.claim(charge("k3", { merchant: "m2", key: "m2/k3", _id: ledgerId("charge", "m2", "k3"), createdAt: new Date(at.getTime() + 1) }));
    expect((await ledger.all()).map((e) => e.key)).toEqual(["m1/k2", "m2/k3"]);
    expect((await ledger.all({ merchant: "m2" })).map((e) => e.key)).toEqual(["m2/k3"]);
    expect((await ledger.all({ status: "captured" })).map((e) => e.key)).toEqual(["m1/k2"]);
  } finally {
    ledger.close();
  }
});
