import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createPaymentCache } from "../../src/store/paymentCache";

// A cached document must cost its own bytes. BSON's output and Buffer.from are slices of Node's
// shared pool slabs (64 KB on Node 24 and 26; on Node 22 8 KB, for buffers under 4 KB): a kept slice keeps its whole slab, and with the service's
// other allocations between two cache writes, 2,000 entries kept most of 2,000 slabs.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * The ArrayBuffer bytes left after full collections, once two readings 20 ms apart agree: buffers
 * of earlier test files in this worker may still be on their way out when this one starts.
 */
async function settledArrayBuffers(): Promise<number> {
  let last = Number.NaN;
  for (let i = 0; i < 100; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    const now = process.memoryUsage().arrayBuffers;
    if (Math.abs(now - last) < 64 * 1024) return now;
    last = now;
  }
  throw new Error("ArrayBuffer memory never settled");
}

test("2,000 cached documents hold about their own size, not the pool slabs they were made in", async () => {
  // Held only through this object (no local name), so that deleting it lets the cache go.
  const kept: { cache?: ReturnType<typeof createPaymentCache> } = { cache: createPaymentCache(2_000) };
  const doc = (i: number) => ({ _id: `P${i}`, state: "captured", fields: "x".repeat(1_500) });
  let garbage = 0;
  for (let i = 0; i < 2_000; i++) {
    kept.cache!.set(`k${i}`, doc(i));
    // What the rest of the service allocates from the same pool meanwhile, dropped at once.
    garbage += Buffer.from("y".repeat(20_000)).length;
  }
  expect(garbage).toBe(40_000_000);
  expect(kept.cache!.get("k1999")?._id).toBe("P1999");
  // What the cache holds is what leaves with it.
  const withCache = await settledArrayBuffers();
  delete kept.cache;
  const held = withCache - (await settledArrayBuffers());
  const own = 2_000 * 1_560;
  expect(held).toBeGreaterThan(own * 0.9);
  expect(held).toBeLessThan(own * 1.5);
});
