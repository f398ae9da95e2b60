import { createHash } from "node:crypto";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";

/**
 * Stripe's state in front of stripe-mock. stripe-mock is stateless: it validates every request
 * against Stripe's OpenAPI spec and answers with fixed fixtures (a confirmed PaymentIntent is
 * always `requires_payment_method`). This proxy forwards every request to it unchanged, keeps
 * its answer when it refuses one, and otherwise overlays the state Stripe would have: statuses
 * by Stripe's test cards, captures, refunds, idempotent replays, search. Faults (lost answers,
 * 5xx, revoked keys) are injected here, after stripe-mock has seen the request.
 */
export interface StripeEmulator {
  url: string;
  /** Every request the SDK sent, with stripe-mock's verdict on it. */
  requests: { method: string; path: string; apiKey: string; mockStatus: number; status: number; params: Record<string, string> }[];
  /** The buyer finishes 3-D Secure on Stripe's page (or fails it). */
  authenticate(intentId: string, ok?: boolean): Record<string, unknown>;
  /** The buyer pays on the Checkout page. */
  payCheckout(sessionId: string): Record<string, unknown>;
  /** The next `n` answers to POSTs on `path` are lost after Stripe acted (a dropped connection). */
  loseAnswers(n: number, path: string): void;
  /** The next `n` requests get this HTTP status and do nothing (an outage). */
  failRequests(n: number, status: number): void;
  /** Requests with this key get 401, as Stripe answers for a revoked key. */
  revokeKey(apiKey: string): void;
  intent(id: string): Record<string, unknown> | undefined;
  session(id: string): Record<string, unknown> | undefined;
  /** PaymentIntents created with our idempotency key in their metadata. */
  intentsWithKey(key: string): Record<string, unknown>[];
  refundsOf(intentId: string): Record<string, unknown>[];
  /** A refund fails after it succeeded, as with Stripe's test card 4000000000005126. */
  failRefund(refundId: string, reason: string): Record<string, unknown>;
  /** A webhook delivery as Stripe would post it, signed with `secret`. */
  signedEvent(type: string, object: Record<string, unknown>, secret: string, livemode?: boolean): { body: string; headers: Record<string, string> };
  close(): Promise<void>;
}

type Obj = Record<string, unknown>;
type Answer = { status: number; body: Obj };

const declines: Record<string, { decline_code: string; message: string }> = {
  "4000000000000002": { decline_code: "generic_decline", message: "Your card was declined." },
  "4000000000009995": { decline_code: "insufficient_funds", message: "Your card has insufficient funds." },
};
const THREE_DS = "4000000000003220";

const stripeError = (status: number, type: string, message: string, extra: Obj = {}): Answer => ({ status, body: { error: { type, message, ...extra } } });

/** Stripe's form encoding (`a[b][0][c]=v`) read back as flat keys. */
function formOf(body: string): Map<string, string> {
  return new Map(new URLSearchParams(body).entries());
}

function metadataOf(form: Map<string, string>, prefix: string): Obj {
  const m: Obj = {};
  for (const [k, v] of form) {
    const hit = new RegExp(`^${prefix.replace(/[[\]]/g, "\\$&")}\\[([^\\]]+)\\]$`).exec(k);
    if (hit?.[1]) m[hit[1]] = v;
  }
  return m;
}

export async function startStripeEmulator(mockUrl: string): Promise<StripeEmulator> {
  const mock = new URL(mockUrl);
  const intents = new Map<string, Obj>();
  const sessions = new Map<string, Obj>();
  const refunds = new Map<string, Obj>();
  const cards = new Map<string, string>();
  const replays = new Map<string, { path: string; hash: string; answer: Answer }>();
  const revoked = new Set<string>();
  const inFlight = new Set<string>();
  const requests: StripeEmulator["requests"] = [];
  let lose = { n: 0, path: "" };
  let failing = { n: 0, status: 500 };
  let seq = 0;
  let url = "";
  const id = (prefix: string) => `${prefix}_emu${(++seq).toString().padStart(6, "0")}`;

  /** Forwards the request to stripe-mock as sent (a live key is shown to it as a test key). */
  function forward(req: IncomingMessage, body: Buffer, apiKey: string): Promise<Answer> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length") headers[k] = v;
    if (apiKey.includes("_live_")) headers.authorization = `Bearer ${apiKey.replace("_live_", "_test_")}`;
    headers["content-length"] = String(body.length);
    return new Promise((resolve, reject) => {
      const out = request({ host: mock.hostname, port: mock.port, method: req.method, path: req.url, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Obj }));
      });
      out.on("error", reject);
      out.end(body);
    });
  }

  const missing = (what: string, key: string) => stripeError(404, "invalid_request_error", `No such ${what}: '${key}'`, { code: "resource_missing" });

  function refundedOf(piId: string): number {
    let sum = 0;
    for (const r of refunds.values()) if (r.payment_intent === piId && r.status !== "failed") sum += r.amount as number;
    return sum;
  }

  function createIntent(form: Map<string, string>, mockBody: Obj, livemode: boolean): Answer {
    const pmId = form.get("payment_method") ?? "";
    const number = cards.get(pmId) ?? "";
    const pi: Obj = {
      ...mockBody,
      id: id("pi"),
      amount: Number(form.get("amount")),
      currency: form.get("currency"),
      capture_method: form.get("capture_method") ?? "automatic_async",
      metadata: metadataOf(form, "metadata"),
      description: form.get("description") ?? null,
      payment_method: pmId || null,
      livemode,
      amount_capturable: 0,
      amount_received: 0,
      last_payment_error: null,
      next_action: null,
      cancellation_reason: null,
      canceled_at: null,
      status: "requires_payment_method",
    };
    intents.set(pi.id as string, pi);
    if (form.get("confirm") !== "true") return { status: 200, body: pi };
    const decline = declines[number];
    if (decline) {
      const error = { type: "card_error", code: "card_declined", ...decline };
      pi.last_payment_error = error;
      return { status: 402, body: { error: { ...error, payment_intent: pi } } };
    }
    if (number === THREE_DS) {
      pi.status = "requires_action";
      pi.next_action = { type: "redirect_to_url", redirect_to_url: { url: `${url}/3ds/${pi.id as string}`, return_url: form.get("return_url") } };
      return { status: 200, body: pi };
    }
    settleIntent(pi);
    return { status: 200, body: pi };
  }

  /** Authorized, and captured unless the capture is manual. */
  function settleIntent(pi: Obj): void {
    pi.next_action = null;
    if (pi.capture_method === "manual") {
      pi.status = "requires_capture";
      pi.amount_capturable = pi.amount;
    } else {
      pi.status = "succeeded";
      pi.amount_received = pi.amount;
      pi.latest_charge = id("ch");
    }
  }

  function intentAction(piId: string, action: string, form: Map<string, string>): Answer {
    const pi = intents.get(piId);
    if (!pi) return missing("payment_intent", piId);
    if (action === "capture") {
      if (pi.status !== "requires_capture")
        return stripeError(400, "invalid_request_error", `This PaymentIntent could not be captured because it has a status of ${pi.status as string}.`, {
          code: "payment_intent_unexpected_state",
        });
      const amount = Number(form.get("amount_to_capture") ?? pi.amount_capturable);
      if (amount > (pi.amount_capturable as number))
        return stripeError(400, "invalid_request_error", "The amount to capture is greater than the amount capturable.", { code: "amount_too_large" });
      Object.assign(pi, { status: "succeeded", amount_received: amount, amount_capturable: 0, latest_charge: id("ch") });
      return { status: 200, body: pi };
    }
    if (action === "cancel") {
      if (pi.status === "succeeded" || pi.status === "canceled")
        return stripeError(400, "invalid_request_error", `You cannot cancel this PaymentIntent because it has a status of ${pi.status as string}.`, {
          code: "payment_intent_unexpected_state",
        });
      Object.assign(pi, {
        status: "canceled",
        amount_capturable: 0,
        next_action: null,
        cancellation_reason: form.get("cancellation_reason") ?? "requested_by_customer",
        canceled_at: Math.floor(Date.now() / 1000),
      });
      return { status: 200, body: pi };
    }
    return stripeError(400, "invalid_request_error", `the emulator does not know ${action}`);
  }

  function createRefund(form: Map<string, string>, mockBody: Obj): Answer {
    const piId = form.get("payment_intent") ?? "";
    const pi = intents.get(piId);
    if (!pi) return missing("payment_intent", piId);
    if (pi.status !== "succeeded")
      return stripeError(400, "invalid_request_error", `This PaymentIntent does not have a successful charge to refund.`, { code: "charge_not_refundable" });
    const left = (pi.amount_received as number) - refundedOf(piId);
    const amount = Number(form.get("amount") ?? left);
    if (amount > left)
      return stripeError(400, "invalid_request_error", `Refund amount (${amount}) is greater than unrefunded amount on charge (${left})`, {
        code: "amount_too_large",
      });
    const refund: Obj = {
      ...mockBody,
      id: id("re"),
      amount,
      currency: pi.currency,
      payment_intent: piId,
      charge: pi.latest_charge,
      metadata: metadataOf(form, "metadata"),
      status: "succeeded",
    };
    refunds.set(refund.id as string, refund);
    return { status: 200, body: refund };
  }

  function createSession(form: Map<string, string>, mockBody: Obj, livemode: boolean): Answer {
    const s: Obj = {
      ...mockBody,
      id: id(livemode ? "cs_live" : "cs_test"),
      status: "open",
      payment_status: "unpaid",
      payment_intent: null,
      livemode,
      metadata: metadataOf(form, "metadata"),
      // Stripe charges the sum of the lines.
      amount_total: [...form.keys()]
        .filter((k) => /^line_items\[\d+\]\[price_data\]\[unit_amount\]$/.test(k))
        .reduce((sum, k) => sum + Number(form.get(k)) * Number(form.get(k.replace("[price_data][unit_amount]", "[quantity]")) ?? 1), 0),
      currency: form.get("line_items[0][price_data][currency]"),
      success_url: form.get("success_url"),
      cancel_url: form.get("cancel_url") ?? null,
      url: "",
      // Kept for the PaymentIntent the Checkout page creates.
      _intent: {
        capture_method: form.get("payment_intent_data[capture_method]") ?? "automatic_async",
        metadata: metadataOf(form, "payment_intent_data[metadata]"),
      },
    };
    s.url = `${url}/checkout/${s.id as string}`;
    sessions.set(s.id as string, s);
    return { status: 200, body: publicSession(s) };
  }

  const publicSession = (s: Obj, expand = false): Obj => {
    const { _intent: _, ...rest } = s;
    return expand && typeof s.payment_intent === "string" ? { ...rest, payment_intent: intents.get(s.payment_intent) ?? s.payment_intent } : rest;
  };

  /** The state-keeping answer to a request stripe-mock accepted. */
  function handle(method: string, path: string, query: URLSearchParams, form: Map<string, string>, mockBody: Obj, livemode: boolean): Answer {
    const parts = path.split("/").filter(Boolean).slice(1);
    const [resource, objectId, action] = parts;
    if (resource === "payment_methods" && method === "POST" && !objectId) {
      const pm = { ...mockBody, id: id("pm") };
      cards.set(pm.id, form.get("card[number]") ?? "");
      return { status: 200, body: { ...pm, card: { ...(mockBody.card as Obj), last4: (form.get("card[number]") ?? "").slice(-4) } } };
    }
    if (resource === "payment_intents") {
      if (method === "POST" && !objectId) return createIntent(form, mockBody, livemode);
      if (objectId === "search") {
        const key = /metadata\['(\w+)'\]:'([^']*)'/.exec(query.get("query") ?? "");
        const data = key ? [...intents.values()].filter((pi) => (pi.metadata as Obj)[key[1]!] === key[2]) : [];
        return { status: 200, body: { ...mockBody, data, total_count: data.length, has_more: false } };
      }
      if (objectId && method === "POST" && action) return intentAction(objectId, action, form);
      if (objectId && method === "GET") {
        const pi = intents.get(objectId);
        return pi ? { status: 200, body: pi } : missing("payment_intent", objectId);
      }
    }
    if (resource === "refunds") {
      if (method === "POST" && !objectId) return createRefund(form, mockBody);
      if (objectId && method === "GET") {
        const r = refunds.get(objectId);
        return r ? { status: 200, body: r } : missing("refund", objectId);
      }
      if (!objectId && method === "GET") {
        const data = [...refunds.values()].filter((r) => !query.get("payment_intent") || r.payment_intent === query.get("payment_intent"));
        return { status: 200, body: { ...mockBody, data, has_more: false } };
      }
    }
    if (resource === "checkout" && objectId === "sessions") {
      const sessionId = parts[2];
      if (method === "POST" && !sessionId) return createSession(form, mockBody, livemode);
      const s = sessionId ? sessions.get(sessionId) : undefined;
      if (!s) return missing("checkout.session", sessionId ?? "");
      if (method === "POST" && parts[3] === "expire") {
        if (s.status !== "open")
          return stripeError(400, "invalid_request_error", 'Only Checkout Sessions with a status in ["open"] can be expired.', {
            code: "checkout_session_unexpected_state",
          });
        s.status = "expired";
        return { status: 200, body: publicSession(s) };
      }
      if (method === "GET")
        return { status: 200, body: publicSession(s, query.getAll("expand[]").includes("payment_intent") || query.get("expand[0]") === "payment_intent") };
    }
    return { status: 200, body: mockBody };
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const target = new URL(req.url ?? "/", "http://emulator");
    const apiKey = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const reply = (a: Answer) => {
      res.writeHead(a.status, { "content-type": "application/json", "request-id": `req_emu${seq}` });
      res.end(JSON.stringify(a.body));
    };
    const idem = req.headers["idempotency-key"];
    const slot = typeof idem === "string" ? `${apiKey}:${idem}` : undefined;
    if (slot && inFlight.has(slot)) {
      const params = Object.fromEntries(formOf(body.toString("utf8")));
      requests.push({ method: req.method ?? "", path: target.pathname, apiKey, mockStatus: (await forward(req, body, apiKey)).status, status: 409, params });
      return reply(stripeError(409, "idempotency_error", "There is currently another in-progress request using this Idempotent Key."));
    }
    if (slot) inFlight.add(slot);
    try {
      await answer(req, res, body, target, apiKey, slot, reply);
    } finally {
      if (slot) inFlight.delete(slot);
    }
  }

  async function answer(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    target: URL,
    apiKey: string,
    slot: string | undefined,
    reply: (a: Answer) => void,
  ): Promise<void> {
    const verdict = await forward(req, body, apiKey);
    const params = Object.fromEntries(formOf(body.toString("utf8")));
    const log = { method: req.method ?? "", path: target.pathname, apiKey, mockStatus: verdict.status, status: verdict.status, params };
    requests.push(log);
    let result: Answer;
    if (revoked.has(apiKey)) {
      result = stripeError(401, "invalid_request_error", `Invalid API Key provided: ${apiKey.slice(0, 8)}****${apiKey.slice(-4)}`);
    } else if (failing.n > 0) {
      failing.n--;
      result = stripeError(failing.status, "api_error", "An unknown error occurred");
    } else if (verdict.status >= 300) {
      result = verdict;
    } else {
      const hash = createHash("sha256").update(body).digest("hex");
      const stored = slot ? replays.get(slot) : undefined;
      if (stored && (stored.path !== target.pathname || stored.hash !== hash)) {
        result = stripeError(400, "idempotency_error", "Keys for idempotent requests can only be used with the same parameters they were first used with.");
      } else if (stored) {
        result = stored.answer;
      } else {
        result = handle(req.method ?? "GET", target.pathname, target.searchParams, formOf(body.toString("utf8")), verdict.body, apiKey.includes("_live_"));
        if (slot && req.method === "POST")
          replays.set(slot, { path: target.pathname, hash, answer: { status: result.status, body: structuredClone(result.body) } });
      }
    }
    log.status = result.status;
    if (lose.n > 0 && req.method === "POST" && target.pathname === lose.path) {
      lose.n--;
      req.socket.destroy();
      return;
    }
    reply(result);
  }

  const server: Server = createServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { type: "api_error", message: `emulator: ${String(err)}` } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    authenticate(intentId, ok = true) {
      const pi = intents.get(intentId);
      if (!pi || pi.status !== "requires_action") throw new Error(`no PaymentIntent ${intentId} waiting for 3-D Secure`);
      if (ok) settleIntent(pi);
      else
        Object.assign(pi, {
          status: "requires_payment_method",
          next_action: null,
          last_payment_error: {
            type: "card_error",
            code: "payment_intent_authentication_failure",
            message: "We are unable to authenticate your payment method.",
          },
        });
      return pi;
    },
    payCheckout(sessionId) {
      const s = sessions.get(sessionId);
      if (!s || s.status !== "open") throw new Error(`no open Checkout Session ${sessionId}`);
      const spec = s._intent as Obj;
      const pi: Obj = {
        id: id("pi"),
        object: "payment_intent",
        amount: s.amount_total,
        currency: s.currency,
        capture_method: spec.capture_method,
        metadata: spec.metadata,
        livemode: s.livemode,
        amount_capturable: 0,
        amount_received: 0,
        last_payment_error: null,
        next_action: null,
        status: "processing",
      };
      settleIntent(pi);
      intents.set(pi.id as string, pi);
      Object.assign(s, { status: "complete", payment_status: pi.status === "succeeded" ? "paid" : "unpaid", payment_intent: pi.id });
      return publicSession(s);
    },
    loseAnswers(n, path) {
      lose = { n, path };
    },
    failRequests(n, status) {
      failing = { n, status };
    },
    revokeKey: (apiKey) => void revoked.add(apiKey),
    intent: (intentId) => intents.get(intentId),
    session: (sessionId) => sessions.get(sessionId),
    intentsWithKey: (key) => [...intents.values()].filter((pi) => (pi.metadata as Obj).genstore_key === key),
    refundsOf: (intentId) => [...refunds.values()].filter((r) => r.payment_intent === intentId),
    failRefund(refundId, reason) {
      const r = refunds.get(refundId);
      if (!r) throw new Error(`no refund ${refundId}`);
      return Object.assign(r, { status: "failed", failure_reason: reason });
    },
    signedEvent(type, object, secret, livemode = false) {
      const body = JSON.stringify({
        id: id("evt"),
        object: "event",
        type,
        livemode,
        created: Math.floor(Date.now() / 1000),
        api_version: Stripe.API_VERSION,
        data: { object },
      });
      const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret });
      return { body, headers: { "content-type": "application/json", "stripe-signature": header } };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
