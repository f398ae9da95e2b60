import { createHmac, randomBytes } from "node:crypto";
import { safeEqual } from "../../runtime/safeEqual.js";
import { hmacKey } from "../../runtime/hmacKey.js";
import { WebhookSignatureError } from "../connector.js";
import type { LedgerEntry } from "./ledger.js";

/** What the sandbox sends to /psp/sandbox/webhooks when a charge changes after the call. */
export interface SandboxEvent {
  id: string;
  type: "charge.updated";
  created: number;
  data: { idempotencyKey: string; reference: string; status: string; reason?: string };
}

const TOLERANCE_S = 300;

export function signSandboxPayload(secret: string, body: string, at: number): string {
  const t = Math.floor(at / 1000);
  return `t=${t},v1=${createHmac("sha256", hmacKey(secret)).update(`${t}.${body}`).digest("hex")}`;
}

/** Checks the `sandbox-signature` header (HMAC-SHA256 over "t.body", 5 minutes tolerance). */
export function verifySandboxSignature(secret: string, body: Buffer, header: string | null, now: number): SandboxEvent {
  const parts = Object.fromEntries((header ?? "").split(",").map((kv) => kv.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!parts.v1 || !Number.isInteger(t)) throw new WebhookSignatureError("missing or malformed sandbox-signature header");
  if (Math.abs(now / 1000 - t) > TOLERANCE_S) throw new WebhookSignatureError("webhook timestamp is outside the 5 minute tolerance");
  const expected = createHmac("sha256", hmacKey(secret)).update(`${t}.`).update(body).digest();
  const given = Buffer.from(parts.v1, "hex");
  if (!safeEqual(given, expected)) throw new WebhookSignatureError("webhook signature does not match");
  let event: SandboxEvent;
  try {
    event = JSON.parse(body.toString("utf8")) as SandboxEvent;
  } catch {
    throw new WebhookSignatureError("webhook body is not JSON");
  }
  if (event.type !== "charge.updated" || !event.data?.idempotencyKey) throw new WebhookSignatureError("unknown webhook event");
  return event;
}

export interface SandboxWebhookSender {
  chargeUpdated(entry: LedgerEntry): void;
  /** Waits for deliveries under way (tests, shutdown). */
  flush(): Promise<void>;
}

/**
 * Posts signed events to our own webhook endpoint like an external PSP would: over HTTP,
 * retried a few times, and lost if we are down (reconciliation covers that).
 */
export function createSandboxWebhookSender(secret: string, url: () => string, log: (e: Record<string, unknown>) => void): SandboxWebhookSender {
  const pending = new Set<Promise<void>>();
  async function send(event: SandboxEvent): Promise<void> {
    const body = JSON.stringify(event);
    for (let attempt = 1; attempt <= 4; attempt++) {
      try {
        const res = await fetch(url(), {
          method: "POST",
          headers: { "content-type": "application/json", "sandbox-signature": signSandboxPayload(secret, body, Date.now()) },
          body,
          signal: AbortSignal.timeout(5000),
        });
        if (res.ok) return;
        log({ level: "warn", msg: "sandbox webhook refused", event: event.id, httpStatus: res.status });
        if (res.status < 500) return;
      } catch (err) {
        log({ level: "warn", msg: "sandbox webhook failed", event: event.id, error: (err as Error).message });
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }
  return {
    chargeUpdated(entry) {
      const key = entry.key.slice(entry.merchant.length + 1);
      const event: SandboxEvent = {
        id: `evt_${randomBytes(12).toString("hex")}`,
        type: "charge.updated",
        created: Date.now(),
        data: { idempotencyKey: key, reference: entry.reference, status: entry.status, ...(entry.reason ? { reason: entry.reason } : {}) },
      };
      const p = send(event).finally(() => pending.delete(p));
      pending.add(p);
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
