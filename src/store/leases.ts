import { randomUUID } from "node:crypto";
import type { Collection, Db } from "mongodb";
import { isDuplicateKey } from "../runtime/databaseErrors.js";
import type { Logger } from "../observability/logger.js";

/**
 * Leases between instances sharing one database, made of unique `_id` inserts only: the one
 * operation the embedded FerretDB makes atomic across connections (its updates and conditional
 * deletes read, then write). The same inserts hold on MongoDB. See README "Scaling out".
 *
 * - Acquire: insert `{_id: key, owner, token, expiresAt}`; a duplicate key means held.
 * - Renew: every ttl/3 the owner moves `expiresAt` on, while its lease is not yet stale.
 * - Release: the owner deletes it, unless it is stale (within ttl/4 of expiry): a stale lease is
 *   left to expire, so that a delete never lands on a successor's lease.
 * - Take over an expired lease: first insert the marker `{_id: key~token}` for that very lease
 *   (one taker wins per expired lease), then delete by `_id` and insert anew. A second taker
 *   that read the same expired lease loses on the marker; one that reads after the delete
 *   competes by insert like anyone.
 */
export interface LeaseSettings {
  instanceId: string;
  /** How long a lease lives without renewal: a dead instance's work waits this long. */
  ttlMs: number;
  log: Logger;
  now?: () => number;
  /** Told of every acquisition attempt's result (metrics). */
  observe?: (result: "acquired" | "busy" | "taken_over" | "lost") => void;
}

interface LeaseDoc {
  _id: string;
  owner: string;
  token: string;
  expiresAt: Date;
  marker?: boolean;
}

export interface Leases {
  /** Runs `task` holding the lease on `key`, waiting while another instance holds it. */
  hold<T>(key: string, task: () => Promise<T>): Promise<T>;
  /** Runs `task` if the lease on `key` can be had now; `{ held: false }` if another holds it. */
  tryHold<T>(key: string, task: () => Promise<T>): Promise<{ held: true; value: T } | { held: false }>;
  /** Leases this instance holds now. */
  held(): number;
  /** Clears markers and leases long expired (a dead instance's leftovers). */
  sweep(): Promise<number>;
  readonly instanceId: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Context {
  leases: Collection<LeaseDoc>;
  settings: LeaseSettings;
  now: () => number;
  /** Within this of its expiry a lease is stale: its owner neither renews nor deletes it. */
  staleMs: number;
  observe: NonNullable<LeaseSettings["observe"]>;
  holding: { count: number };
}

async function insert(c: Context, doc: LeaseDoc): Promise<boolean> {
  try {
    await c.leases.insertOne(doc);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

const fresh = (c: Context, key: string): LeaseDoc => ({
  _id: key,
  owner: c.settings.instanceId,
  token: `${c.settings.instanceId}/${randomUUID()}`,
  expiresAt: new Date(c.now() + c.settings.ttlMs),
});

/**
 * The lease on `key` if it can be had now, taking over an expired one. `peek`: read first and
 * insert only when it looks free (a waiter's later tries: a failed insert costs a write).
 */
async function tryAcquire(c: Context, key: string, peek = false): Promise<LeaseDoc | undefined> {
  if (peek) {
    const seen = await c.leases.findOne({ _id: key });
    if (seen && seen.expiresAt.getTime() > c.now()) return (c.observe("busy"), undefined);
  }
  const mine = fresh(c, key);
  const inserted = await insert(c, mine).catch((err: unknown) => {
    // A timed-out insert may still land: take that lease back at once rather than let it block
    // the payment until it expires (best effort; it expires anyway).
    void c.leases.deleteOne({ _id: key, token: mine.token }).catch(() => {});
    throw err;
  });
  if (inserted) return (c.observe("acquired"), mine);
  const current = await c.leases.findOne({ _id: key });
  if (!current || current.expiresAt.getTime() > c.now()) return (c.observe("busy"), undefined);
  // One taker per expired lease: the marker's _id names that lease's token.
  if (!(await insert(c, { ...mine, _id: `${key}~${current.token}`, marker: true }))) return (c.observe("busy"), undefined);
  await c.leases.deleteOne({ _id: key });
  // Taken from the dead owner (by this instance alone); the next insert may still lose to another
  // instance that found the key free in the meantime, which is as good.
  c.observe("taken_over");
  c.settings.log({ level: "warn", msg: "took over an expired lease", lease: key, from: current.owner, expiredAt: current.expiresAt });
  const again = fresh(c, key);
  return (await insert(c, again)) ? again : (c.observe("busy"), undefined);
}

/** Runs `task` under an acquired lease: renewed every ttl/3 while it runs, released after. */
async function under<T>(c: Context, lease: LeaseDoc, task: () => Promise<T>): Promise<T> {
  c.holding.count++;
  let lost = false;
  const renew = async () => {
    if (lost) return;
    // Renewals failed (the database was away) until it went stale: another may take it now.
    if (c.now() > lease.expiresAt.getTime() - c.staleMs) {
      lost = true;
      return;
    }
    const expiresAt = new Date(c.now() + c.settings.ttlMs);
    const r = await c.leases.updateOne({ _id: lease._id, token: lease.token }, { $set: { expiresAt } });
    if (r.matchedCount === 1) lease.expiresAt = expiresAt;
    else lost = true;
  };
  const report = () => {
    clearInterval(timer);
    c.observe("lost");
    c.settings.log({ level: "error", msg: "a lease was lost while its work ran (renewal failed past expiry)", lease: lease._id });
  };
  const timer: NodeJS.Timeout = setInterval(
    () => {
      renew().then(
        () => lost && report(),
        () => {},
      );
    },
    Math.max(50, Math.floor(c.settings.ttlMs / 3)),
  );
  timer.unref();
  try {
    return await task();
  } finally {
    clearInterval(timer);
    c.holding.count--;
    if (!lost && c.now() < lease.expiresAt.getTime() - c.staleMs) {
      // A failed release delays the next holder until expiry at worst: tried once more a second
      // later (harmless if the first landed: the filter names our token).
      const release = () => c.leases.deleteOne({ _id: lease._id, token: lease.token });
      const again = () => c.now() < lease.expiresAt.getTime() - c.staleMs && void release().catch(() => {});
      await release().catch(() => setTimeout(again, 1000).unref());
    }
  }
}

export function createLeases(db: Db, settings: LeaseSettings): Leases {
  const c: Context = {
    leases: db.collection<LeaseDoc>("leases"),
    settings,
    now: settings.now ?? Date.now,
    staleMs: Math.floor(settings.ttlMs / 4),
    observe: settings.observe ?? (() => {}),
    holding: { count: 0 },
  };
  return {
    instanceId: settings.instanceId,
    async hold(key, task) {
      for (let wait = 2, tries = 0; ; wait = Math.min(wait * 2, 100), tries++) {
        const lease = await tryAcquire(c, key, tries > 0);
        if (lease) return under(c, lease, task);
        await sleep(wait / 2 + Math.random() * wait);
      }
    },
    async tryHold(key, task) {
      const lease = await tryAcquire(c, key);
      return lease ? { held: true, value: await under(c, lease, task) } : { held: false };
    },
    held: () => c.holding.count,
    async sweep() {
      const old = await c.leases.find({ expiresAt: { $lt: new Date(c.now() - 10 * settings.ttlMs) } }).toArray();
      for (const doc of old) {
        if (doc.marker) {
          // A marker's _id names one lease's token, never used again: deleting it is safe.
          await c.leases.deleteOne({ _id: doc._id });
        } else {
          // Taken over like any expired lease, then released.
          const lease = await tryAcquire(c, doc._id);
          if (lease) await c.leases.deleteOne({ _id: lease._id, token: lease.token });
        }
      }
      return old.length;
    },
  };
}
