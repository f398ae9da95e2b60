import { DatabaseTimeoutError } from "./boundedDb.js";

/**
 * How many update statements the commands of one embedded FerretDB database may carry at once.
 * FerretDB 1.24 keeps each statement's query open, on one of the database's 100 SQLite
 * connections, until its whole command ends: commands that carry more than that together each
 * wait for a connection another holds, and every later command of the database waits behind them,
 * for ever (one command of 101 statements does it alone). A larger pool of the driver
 * (DATABASE_POOL_SIZE) would otherwise let the batched updates and outbox writes reach it.
 */
export interface StatementBudget {
  /** Runs `work` once `statements` are free, and frees them after; refuses more than the whole budget. */
  run<T>(statements: number, work: () => Promise<T>): Promise<T>;
}

/** 90 of the 100: room for the one connection each command's writes and reads take besides. */
export const FERRETDB_STATEMENTS = 90;

export function createStatementBudget(limit = FERRETDB_STATEMENTS): StatementBudget {
  let free = limit;
  // First come, first served: a large command is not passed by small ones for ever.
  const waiting: { n: number; go: () => void }[] = [];
  const wake = () => {
    while (waiting.length && waiting[0]!.n <= free) {
      const w = waiting.shift()!;
      free -= w.n;
      w.go();
    }
  };
  return {
    async run(statements, work) {
      // More than the budget in one command would hang FerretDB by itself: never sent.
      if (statements > limit) throw new Error(`a command of ${statements} statements is over FerretDB's budget of ${limit}`);
      const n = Math.max(1, statements);
      if (waiting.length === 0 && n <= free) free -= n;
      else await new Promise<void>((go) => waiting.push({ n, go }));
      const release = () => {
        free += n;
        wake();
      };
      try {
        const result = await work();
        release();
        return result;
      } catch (err) {
        // Past its bound the command may still hold its connections in FerretDB: until the call
        // itself ends, its statements stay counted.
        if (err instanceof DatabaseTimeoutError) void err.late.then(release);
        else release();
        throw err;
      }
    },
  };
}
