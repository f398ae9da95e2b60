import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createPaymentCache } from "../../src/store/paymentCache";

// A cached document must cost its own bytes. BSON's output and Buffer.from are slices of Node's
// shared pool slabs (64 KB on Node 24 and 26; on Node 22 8 KB, for buffers under 4 KB): a kept slice keeps its whole slab, and with the service's
// other allocations between two cache writes, 2,000 entries kept most of 2,000 slabs.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** A full collection, and time for the freed buffers to leave process.memoryUsage()'s count. */
async function collected(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("2,000 cached documents hold about their own size, not the pool slabs they were made in", async () => {
  const cache = createPaymentCache(2_000);
  const doc = (i: number) => ({ _id: `P${i}`, state: "captured", fields: "x".repeat(1_500) });
  await collected();
  const before = process.memoryUsage().arrayBuffers;
  let garbage = 0;
  for (let i = 0; i < 2_000; i++) {
    cache.set(`k${i}`, doc(i));
    // What the rest of the service allocates from the same pool meanwhile, dropped at once.
    garbage += Buffer.from("y".repeat(20_000)).length;
  }
  await collected();
  const held = process.memoryUsage().arrayBuffers - before;
  const own = 2_000 * 1_560;
  expect(garbage).toBe(40_000_000);
  expect(cache.get("k1999")?._id).toBe("P1999");
  expect(held).toBeGreaterThan(own * 0.9);
  expect(held).toBeLessThan(own * 1.5);
});
