import { parseRetryAfter } from "../../src/callbacks/deliver";
import { createTokenBuckets } from "../../src/runtime/tokenBucket";

test("Genstore's bucket: 40 at once, then 2 per second, per shop", () => {
  let t = 0;
  const buckets = createTokenBuckets(40, 2, () => t);
  for (let i = 0; i < 40; i++) expect(buckets.take("shop-a")).toBe(0);
  expect(buckets.take("shop-a")).toBe(500);
  expect(buckets.take("shop-b")).toBe(0); // another shop has its own bucket
  t += 500;
  expect(buckets.take("shop-a")).toBe(0);
  expect(buckets.take("shop-a")).toBe(500);
  t += 60_000;
  for (let i = 0; i < 40; i++) expect(buckets.take("shop-a")).toBe(0);
  expect(buckets.take("shop-a")).toBeGreaterThan(0);
});

test("Retry-After as seconds or as an HTTP date", () => {
  const now = Date.parse("2026-11-25T12:00:00Z");
  expect(parseRetryAfter("3", now)).toBe(3000);
  expect(parseRetryAfter("Wed, 25 Nov 2026 12:00:10 GMT", now)).toBe(10_000);
  expect(parseRetryAfter("soon", now)).toBeUndefined();
  expect(parseRetryAfter(null, now)).toBeUndefined();
});
