import type { Db } from "mongodb";

/** A database call that did not answer within its bound: the database is slow or gone (→ 503). */
export class DatabaseTimeoutError extends Error {
  override name = "DatabaseTimeoutError";
  constructor(
    message: string,
    /** Settles when the call itself does, answered or not: the database may still be running it. */
    readonly late: Promise<unknown> = Promise.resolve(),
  ) {
    super(message);
  }
}

const noop = () => {};

function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  // One promise and one timer per call (every database call of every request passes here).
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DatabaseTimeoutError(`the database did not answer ${what} within ${ms} ms`, work.then(noop, noop))), ms);
    // The call goes on past the bound; its late result or error is dropped (as a lost reply would be).
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

const isPromise = (v: unknown): v is Promise<unknown> => typeof (v as { then?: unknown } | null)?.then === "function";
const isCursor = (v: unknown) => typeof (v as { toArray?: unknown } | null)?.toArray === "function";

/** Wraps an object so that every method returning a promise answers within `ms`, and every cursor it returns is wrapped too. */
function wrap<T extends object>(target: T, ms: number, name: string): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      if (typeof value !== "function" || prop === "constructor") return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(t, args);
        if (isPromise(result)) return bounded(result, ms, `${name}.${String(prop)}`);
        if (result === t) return receiver; // fluent calls (cursor.sort().limit()) stay wrapped
        if (isCursor(result)) return wrap(result as object, ms, name);
        return result;
      };
    },
  });
}

/**
 * The database with a hard bound on every call. The driver's own timeouts bound each network
 * step, but a read it retries after a timeout can take several of them; this bound is the one a
 * request can count on, so a stalled database costs it `ms`, answered 503, never a hang.
 */
export function boundDatabase(db: Db, ms: number): Db {
  return new Proxy(db, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      if (prop === "collection" && typeof value === "function")
        return (name: string, ...rest: unknown[]) => wrap((value as (...a: unknown[]) => object).apply(t, [name, ...rest]), ms, name);
      if (prop === "command" && typeof value === "function")
        return (...args: unknown[]) => bounded((value as (...a: unknown[]) => Promise<unknown>).apply(t, args), ms, "command");
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}
