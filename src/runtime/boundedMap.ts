/**
 * A Map that holds at most `maxEntries`, dropping the least recently used entry first, and
 * forgets entries older than `ttlMs`. Every map keyed by something a request carries (a shop
 * id, an address, a payment) is one of these, so no input can make memory grow without bound.
 */
export interface BoundedMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): boolean;
  readonly size: number;
}

export interface BoundedMapOptions {
  maxEntries: number;
  /** Entries older than this are treated as absent (and dropped when met). */
  ttlMs?: number;
  now?: () => number;
}

export function createBoundedMap<K, V>(opts: BoundedMapOptions): BoundedMap<K, V> {
  const now = opts.now ?? Date.now;
  // A Map iterates in insertion order: re-inserting on use keeps the oldest first.
  const entries = new Map<K, { value: V; at: number }>();
  const fresh = (at: number) => opts.ttlMs === undefined || now() - at < opts.ttlMs;
  return {
    get(key) {
      const e = entries.get(key);
      if (!e) return undefined;
      entries.delete(key);
      if (!fresh(e.at)) return undefined;
      entries.set(key, e);
      return e.value;
    },
    set(key, value) {
      entries.delete(key);
      entries.set(key, { value, at: now() });
      while (entries.size > opts.maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        entries.delete(oldest.value);
      }
    },
    delete: (key) => entries.delete(key),
    get size() {
      return entries.size;
    },
  };
}
