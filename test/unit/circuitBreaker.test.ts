import { createCircuitBreaker } from "../../src/runtime/circuitBreaker";

test("a circuit opens after N failures in a row, refuses while open, lets one trial through, and closes on its success", () => {
  let now = 0;
  const b = createCircuitBreaker({ failures: 3, openMs: 1000, now: () => now });
  const fail = () => {
    expect(b.allow("k")).toBe(true);
    b.record("k", false);
  };
  fail();
  fail();
  // A success in between starts the count again.
  expect(b.allow("k")).toBe(true);
  b.record("k", true);
  fail();
  fail();
  expect(b.state("k")).toBe("closed");
  fail();
  expect(b.state("k")).toBe("open");
  expect(b.allow("k")).toBe(false);
  expect(b.retryAt("k")).toBe(1000);
  // Other keys (other shops) are not affected.
  expect(b.allow("other")).toBe(true);
  now = 1000;
  expect(b.state("k")).toBe("half-open");
  expect(b.allow("k")).toBe(true); // the trial
  expect(b.allow("k")).toBe(false); // one at a time
  b.record("k", false);
  expect(b.state("k")).toBe("open"); // the trial failed: open again
  now = 2000;
  expect(b.allow("k")).toBe(true);
  b.record("k", true);
  expect(b.state("k")).toBe("closed");
  expect(b.allow("k")).toBe(true);
});

test("memory is bounded: at most maxKeys circuits are remembered", () => {
  const b = createCircuitBreaker({ failures: 1, openMs: 1000, maxKeys: 2, now: () => 0 });
  for (const k of ["a", "b", "c"]) b.record(k, false);
  expect(b.state("a")).toBe("closed"); // forgotten, least recently used
  expect(b.state("c")).toBe("open");
});
