import { createBoundedMap } from "./boundedMap.js";

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failures: number;
  /** How long an open circuit refuses before it lets one trial call through. */
  openMs: number;
  /** Most keys remembered (least recently used dropped first). */
  maxKeys?: number;
  now?: () => number;
}

export type CircuitState = "closed" | "open" | "half-open";

/** One circuit per key (a shop's connector): a dependency that keeps failing is not called for a while. */
export interface CircuitBreaker {
  /** Whether a call may go out now; in half-open, only one trial at a time does. */
  allow(key: string): boolean;
  /** The result of a call that `allow` let through. */
  record(key: string, ok: boolean): void;
  state(key: string): CircuitState;
  /** When an open circuit will let a trial through (ms since the epoch), else undefined. */
  retryAt(key: string): number | undefined;
}

interface Circuit {
  failures: number;
  openUntil: number;
  trial: boolean;
}

/**
 * closed → (N failures in a row) → open → (openMs later) → half-open: one trial call; its
 * success closes the circuit, its failure opens it again. Memory is bounded by `maxKeys`.
 */
export function createCircuitBreaker(opts: CircuitBreakerOptions): CircuitBreaker {
  const now = opts.now ?? Date.now;
  const circuits = createBoundedMap<string, Circuit>({ maxEntries: opts.maxKeys ?? 10_000, now });
  const stateOf = (c: Circuit | undefined): CircuitState => {
    if (!c || c.failures < opts.failures) return "closed";
    return now() < c.openUntil ? "open" : "half-open";
  };
  return {
    allow(key) {
      const c = circuits.get(key);
      const state = stateOf(c);
      if (state === "closed") return true;
      if (state === "open" || c?.trial) return false;
      if (c) c.trial = true;
      return true;
    },
    record(key, ok) {
      if (ok) {
        circuits.delete(key);
        return;
      }
      const c = circuits.get(key) ?? { failures: 0, openUntil: 0, trial: false };
      c.failures++;
      c.trial = false;
      if (c.failures >= opts.failures) c.openUntil = now() + opts.openMs;
      circuits.set(key, c);
    },
    state: (key) => stateOf(circuits.get(key)),
    retryAt(key) {
      const c = circuits.get(key);
      return stateOf(c) === "open" ? c?.openUntil : undefined;
    },
  };
}
