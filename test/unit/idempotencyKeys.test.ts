import { operationKindOfKey, pspIdempotencyKey } from "../../src/payments/idempotencyKeys";

// Stored payments and operations are found by these keys (their _id), and PSPs deduplicate by them:
// a change to how they are derived would orphan every stored record. The expected values were
// computed apart, with Python's hashlib: base64url(sha256("shop\0kind\0id"))[:32].
test("a key is the shop, kind and Genstore id hashed exactly as before, at most 40 characters", () => {
  expect(pspIdempotencyKey("payment", "default", "PI0020241010151755224")).toBe("gspay_8Qxe-hhcONLkkrFlKX5HYbugmAWX_5Tw");
  expect(pspIdempotencyKey("refund", "shop-b", "RF-1")).toBe("gsref_17Ja67cXKgMyZSrzHFYNR7TRkNtX2HR-");
  expect(pspIdempotencyKey("payment", "default", "x".repeat(500))).toHaveLength(38);
});

test("the same id in another shop or for another operation is another key", () => {
  const keys = new Set([
    pspIdempotencyKey("payment", "a", "1"),
    pspIdempotencyKey("payment", "b", "1"),
    pspIdempotencyKey("capture", "a", "1"),
    pspIdempotencyKey("void", "a", "1"),
  ]);
  expect(keys.size).toBe(4);
});

test("an operation's kind is read back from its key; a payment's and a foreign key have none", () => {
  expect(operationKindOfKey(pspIdempotencyKey("void", "a", "1"))).toBe("void");
  expect(operationKindOfKey(pspIdempotencyKey("refund", "a", "1"))).toBe("refund");
  expect(operationKindOfKey(pspIdempotencyKey("payment", "a", "1"))).toBeUndefined();
  expect(operationKindOfKey("pi_3Nxyz")).toBeUndefined();
});
