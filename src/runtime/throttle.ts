import { createBoundedMap } from "./boundedMap.js";

/**
 * Runs a task for a key at most once per interval: callers during a run share its result,
 * callers after it within the interval get `otherwise()` (typically the stored state).
 */
export interface Throttle<T> {
  run(key: string, task: () => Promise<T>, otherwise: () => Promise<T>): Promise<T>;
}

export function createThrottle<T>(opts: { intervalMs: number; maxKeys: number; now?: () => number }): Throttle<T> {
  const now = opts.now ?? Date.now;
  const last = createBoundedMap<string, { at: number; running?: Promise<T> }>({ maxEntries: opts.maxKeys, ttlMs: opts.intervalMs, now });
  return {
    run(key, task, otherwise) {
      const entry = last.get(key);
      if (entry?.running) return entry.running;
      if (entry) return otherwise();
      const fresh: { at: number; running?: Promise<T> } = { at: now() };
      fresh.running = task().finally(() => {
        delete fresh.running;
      });
      last.set(key, fresh);
      return fresh.running;
    },
  };
}
