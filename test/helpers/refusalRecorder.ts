import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { CommandSucceededEvent, Db } from "mongodb";

/** What a Schemathesis hook reports after a call (test/schemathesis/hooks.py). */
interface Call {
  operation: string;
  status: number;
  body: unknown;
  paymentId: unknown;
}

export interface RefusalRecorder {
  url: string;
  /** Calls per operation ("POST /genstore/v1/captures"), as the hooks saw them. */
  calls: Map<string, number>;
  /** Calls answered 200 with no `error`, per operation. */
  accepted: Map<string, number>;
  refused: number;
  /** Documents the service's database gained over the whole run (inserted less deleted). */
  stored: number;
  /** Refused calls after which the database held more documents than before. */
  violations: string[];
  close(): Promise<void>;
}

const creations = ["POST /genstore/v1/payments/card", "POST /genstore/v1/payments/offsite"];

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
}

/** Documents a write command added to its database: inserted and upserted, less deleted. */
function documentsAdded(e: CommandSucceededEvent): number {
  const reply = e.reply as { n?: number; upserted?: unknown[]; lastErrorObject?: { upserted?: unknown } } | undefined;
  if (e.commandName === "insert") return reply?.n ?? 0;
  if (e.commandName === "delete") return -(reply?.n ?? 0);
  if (e.commandName === "update") return reply?.upserted?.length ?? 0;
  if (e.commandName === "findAndModify") return reply?.lastErrorObject?.upserted !== undefined ? 1 : 0;
  return 0;
}

/**
 * Watches every write command the service's MongoDB client completes in `db` while Schemathesis
 * makes its calls (one at a time: it runs with one worker). A call refused with an HTTP error,
 * or answered 200 with an `error`, must leave the database with no more documents than before;
 * the one exception is a payment the PSP declined, which is kept, as `failed(paymentId)` confirms
 * through the service.
 */
export async function startRefusalRecorder(db: Db, failed: (paymentId: string, error: string) => Promise<boolean>): Promise<RefusalRecorder> {
  const calls = new Map<string, number>();
  const accepted = new Map<string, number>();
  const violations: string[] = [];
  let refused = 0;
  let stored = 0;
  let mark = 0;
  const onWrite = (e: CommandSucceededEvent) => {
    if (e.databaseName === db.databaseName) stored += documentsAdded(e);
  };
  db.client.on("commandSucceeded", onWrite);
  const after = async (call: Call) => {
    calls.set(call.operation, (calls.get(call.operation) ?? 0) + 1);
    const error = (call.body as { error?: unknown } | null)?.error;
    const refusal = call.status >= 400 || (call.status === 200 && typeof error === "string" && error !== "");
    if (!refusal) {
      if (call.status === 200) accepted.set(call.operation, (accepted.get(call.operation) ?? 0) + 1);
      return;
    }
    refused++;
    const added = stored - mark;
    if (added <= 0) return;
    const paymentId = call.paymentId === null || call.paymentId === undefined ? "" : String(call.paymentId);
    const declined = call.status === 200 && creations.includes(call.operation) && (await failed(paymentId, String(error)));
    if (!declined) violations.push(`${call.operation} answered ${call.status} ${JSON.stringify(call.body)}: ${added} more document(s)`);
  };
  const server = createServer((req, res) => {
    readJson(req)
      .then(async (msg) => {
        if (req.url === "/before") mark = stored;
        else await after(msg as unknown as Call);
        res.writeHead(204).end();
      })
      .catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    accepted,
    get refused() {
      return refused;
    },
    get stored() {
      return stored;
    },
    violations,
    async close() {
      db.client.off("commandSucceeded", onWrite);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
