import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";

// A cached document must cost its own bytes, whatever the service allocates between two cache
// writes. When the cache kept BSON, a kept slice of Node's shared pool slabs (64 KB on Node 24 and
// 26) kept its whole slab: 2,000 entries kept most of 2,000 slabs. It keeps objects now; this
// counts the heap and buffers together, so a copy that kept more than its own shows here too.
//
// Measured in a Node process of its own (the compiled cache from dist/, which the test run's
// global setup builds): in this worker, buffers of earlier test files were still being freed
// between the two readings, by as much as 113 MB once, whatever the settling before them.
const measure = `
const { createPaymentCache } = require(${JSON.stringify(resolve(__dirname, "../../dist/src/store/paymentCache.js"))});
async function settled() {
  let last = NaN;
  for (let i = 0; i < 100; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    const m = process.memoryUsage();
    const now = m.heapUsed + m.arrayBuffers;
    if (Math.abs(now - last) < 64 * 1024) return now;
    last = now;
  }
  throw new Error("memory never settled");
}
(async () => {
  // Held only through this object (no local name), so that deleting it lets the cache go.
  const kept = { cache: createPaymentCache(2000) };
  let garbage = 0;
  for (let i = 0; i < 2000; i++) {
    // A text of its own, flat, as a payment's packed fields are (a padded or repeated one would
    // share its filler with every other entry).
    kept.cache.set("k" + i, { _id: "P" + i, state: "captured", fields: require("node:crypto").randomBytes(750).toString("hex") });
    // What the rest of the service allocates from the same pool meanwhile, dropped at once.
    garbage += Buffer.from("y".repeat(20000)).length;
  }
  const last = kept.cache.get("k1999")._id;
  // What the cache holds is what leaves with it.
  const withCache = await settled();
  delete kept.cache;
  const held = withCache - (await settled());
  process.stdout.write(JSON.stringify({ garbage, last, held }));
})();
`;

test("2,000 cached documents hold about their own size, not the pool slabs they were made in", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", "-e", measure], { timeout: 60_000 });
  const { garbage, last, held } = JSON.parse(stdout) as { garbage: number; last: string; held: number };
  expect(garbage).toBe(40_000_000);
  expect(last).toBe("P1999");
  const own = 2_000 * 1_560;
  expect(held).toBeGreaterThan(own * 0.9);
  expect(held).toBeLessThan(own * 1.5);
}, 90_000);
