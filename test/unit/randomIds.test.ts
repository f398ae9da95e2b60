import { randomId } from "../../src/runtime/randomIds";

test("ids are the asked length, in the asked encoding, and do not repeat across pool refills", () => {
  const seen = new Set<string>();
  // 9 bytes each: about 455 ids per 4 KB pool, so this crosses ten refills.
  for (let i = 0; i < 5000; i++) {
    const id = randomId(9);
    expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/);
    seen.add(id);
  }
  expect(seen.size).toBe(5000);
  expect(randomId(6, "hex")).toMatch(/^[0-9a-f]{12}$/);
});

test("the bytes look random: each bit is set about half the time", () => {
  const ones = new Array<number>(8).fill(0);
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const byte = parseInt(randomId(1, "hex"), 16);
    for (let b = 0; b < 8; b++) if (byte & (1 << b)) ones[b]!++;
  }
  // Binomial(20000, 0.5): six standard deviations are about 424.
  for (const count of ones) expect(Math.abs(count - n / 2)).toBeLessThan(424);
});

test("a count that is not a whole number from 1 to the pool's size is refused", () => {
  for (const bad of [4097, 0, -3, 2.5, Number.NaN]) expect(() => randomId(bad)).toThrow(RangeError);
});
