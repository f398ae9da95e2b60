/** Commands sent to the database by one process, keyed "database/collection/command". */
export type CommandCounts = Record<string, { n: number; bytes: number; documents: number }>;

/** The service's db_commands_total, db_command_bytes_total and db_command_documents_total from its /metrics. */
export async function serviceCommandCounts(url: string): Promise<CommandCounts> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts: CommandCounts = {};
  for (const m of text.matchAll(/^db_command(s|_bytes|_documents)_total\{database="([^"]+)",collection="([^"]*)",command="([^"]+)"\} (\d+(?:\.\d+)?)$/gm)) {
    const c = (counts[`${m[2]}/${m[3]}/${m[4]}`] ??= { n: 0, bytes: 0, documents: 0 });
    if (m[1] === "s") c.n = Number(m[5]);
    else if (m[1] === "_bytes") c.bytes = Number(m[5]);
    else c.documents = Number(m[5]);
  }
  return counts;
}

export async function floorCommandCounts(url: string): Promise<CommandCounts> {
  return (await (await fetch(`${url}/stats`)).json()) as CommandCounts;
}

const writes = new Set(["insert", "update", "findAndModify", "delete"]);
const reads = new Set(["find", "aggregate", "count", "getMore", "distinct"]);

export interface DatabaseCost {
  /** Per request, in the process's own database(s) (the PSP's books and the delivery journal apart). */
  writes: number;
  /** Per request, the delivery journal's inserts and deletes: one per batch of deliveries. */
  journalWrites: number;
  /** Documents those writes inserted, updated or deleted (FerretDB: a transaction each). */
  documents: number;
  reads: number;
  bytes: number;
  /** Per request, in a connector's own database (the sandbox PSP's books). */
  pspWrites: number;
}

/**
 * What happened between two counts, per request; databases ending in `_sandbox` are the PSP's.
 * Documents count every write of ours, the journal's included.
 */
export function costPerRequest(before: CommandCounts, after: CommandCounts, requests: number): DatabaseCost {
  const cost = { writes: 0, journalWrites: 0, documents: 0, reads: 0, bytes: 0, pspWrites: 0 };
  for (const [key, c] of Object.entries(after)) {
    const [database, collection, command] = key.split("/") as [string, string, string];
    const n = c.n - (before[key]?.n ?? 0);
    const psp = database.endsWith("_sandbox");
    if (writes.has(command)) {
      if (psp) cost.pspWrites += n;
      else {
        if (collection === "callback_deliveries") cost.journalWrites += n;
        else cost.writes += n;
        cost.documents += (c.documents ?? 0) - (before[key]?.documents ?? 0);
      }
    }
    if (reads.has(command) && !psp) cost.reads += n;
    if (!psp) cost.bytes += c.bytes - (before[key]?.bytes ?? 0);
  }
  const per = (v: number) => v / Math.max(1, requests);
  return {
    writes: per(cost.writes),
    journalWrites: per(cost.journalWrites),
    documents: per(cost.documents),
    reads: per(cost.reads),
    bytes: per(cost.bytes),
    pspWrites: per(cost.pspWrites),
  };
}

/** The service's callback_delivery_journal_payments gauge: deliveries not yet folded into payments (0 where none). */
export async function journalPayments(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^callback_delivery_journal_payments (\d+)/m.exec(text)?.[1] ?? 0);
}
