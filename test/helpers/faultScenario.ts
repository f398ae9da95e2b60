import type { FakeGenstore } from "./fakeGenstore";
import { cardBody, genstoreClient, outboxDrained, storedPayment, uniqueId } from "./payments";
import type { TestServer } from "./testServer";
import { waitFor } from "./waitFor";

/** One answer Genstore got while a fault was on. */
export interface TimedAnswer {
  id: string;
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
  ms: number;
}

/** A card payment as Genstore sends it, timed, with the headers a retry needs. */
export async function timedPay(server: TestServer, body: Record<string, unknown>, shopId?: string): Promise<TimedAnswer> {
  const q = shopId ? `?shopId=${encodeURIComponent(shopId)}` : "";
  const started = Date.now();
  const res = await fetch(`${server.url}/genstore/v1/payments/card${q}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const parsed = (await res.json()) as Record<string, unknown>;
  return { id: String(body.paymentId), status: res.status, body: parsed, retryAfter: res.headers.get("retry-after"), ms: Date.now() - started };
}

/** `count` card payments sent at once while a fault is on (automatic capture, so each ends captured). */
export async function paymentsDuringFault(server: TestServer, count: number, opts: { prefix: string; shopId?: string; card?: string } = { prefix: "F" }) {
  const bodies = Array.from({ length: count }, () =>
    cardBody(server, uniqueId(opts.prefix), { manualCapture: false, amount: "12.34", ...(opts.card ? { card: opts.card } : {}) }),
  );
  const answers = await Promise.all(bodies.map((b) => timedPay(server, b, opts.shopId)));
  return { bodies, answers };
}

/**
 * Genstore's side after the fault is lifted: every payment that got no final answer (a 503) is
 * sent again with the same id until it is answered; then every payment must reach `finalState`
 * through the service's own recovery (reconciliation, the dispatcher), and Genstore must have
 * heard exactly one result of each.
 */
export async function recoverAll(
  server: TestServer,
  genstore: FakeGenstore,
  bodies: Record<string, unknown>[],
  opts: {
    finalStates: string[];
    shopId?: string;
    timeoutMs?: number;
    /**
     * "exactly-once" when no result could be reached during the fault; "one-outcome" when one
     * may have been delivered while the database could not record it (delivery is at least
     * once: a repeat carries the same outcome, and Genstore's PUT is idempotent).
     */
    callbacks?: "exactly-once" | "one-outcome";
    /** The fault was the database's: a read may still meet a connection it left behind (503, retry). */
    databaseFault?: boolean;
  },
) {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pending = new Map(bodies.map((b) => [String(b.paymentId), b]));
  const last = new Map<string, unknown>();
  await waitFor(
    "every payment refused during the fault to be taken on Genstore's retry",
    async () => {
      for (const [id, b] of pending) {
        const a = await timedPay(server, b, opts.shopId);
        if (a.status === 200) pending.delete(id);
        else last.set(id, [a.status, a.body]);
      }
      return pending.size === 0;
    },
    timeoutMs,
    200,
  ).catch((err: Error) => {
    // What the retries were answered, to tell a stuck claim from a database still refused.
    throw new Error(`${err.message}; last answers: ${JSON.stringify([...last])}`);
  });
  const gs = genstoreClient(server, opts.shopId);
  const finals: Record<string, Record<string, unknown>> = {};
  for (const b of bodies) {
    const id = String(b.paymentId);
    const p = await waitFor(
      `payment ${id} to be final`,
      async () => {
        const stored = await storedPayment(server, id);
        return stored && opts.finalStates.includes(String(stored.state)) ? stored : undefined;
      },
      timeoutMs,
      100,
    );
    finals[id] = p;
    await outboxDrained(server, id, timeoutMs);
    // Genstore's view agrees. After a database fault a read may still land on a connection the
    // fault left half-open and be answered 503 (that connection is then dropped): read again.
    // Anything else than 200 or that 503 fails at once.
    await waitFor(
      `payment ${id} to be readable`,
      async () => {
        const r = await gs.getPayment(id);
        if (r.status === 200) return true;
        expect({ status: r.status, body: r.body, databaseFault: opts.databaseFault ?? false }).toEqual({
          status: 503,
          body: { error: "the payment service cannot reach its database right now; retry in a few seconds" },
          databaseFault: true,
        });
        return false;
      },
      timeoutMs,
      100,
    );
  }
  const heard = (id: string) => genstore.acknowledged().filter((c) => c.path.endsWith(`/payment/${id}`));
  for (const b of bodies) {
    const calls = heard(String(b.paymentId));
    if ((opts.callbacks ?? "exactly-once") === "exactly-once") expect(calls).toHaveLength(1);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(new Set(calls.map((c) => JSON.stringify(c.body))).size).toBe(1);
  }
  return finals;
}
