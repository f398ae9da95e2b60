import { randomBytes } from "node:crypto";
import type { OperationOutcome, PaymentOutcome } from "../../src/psp/connector";
import { sandboxHarness, stripeHarness, type ConnectorHarness } from "../helpers/connectorHarness";

/**
 * The connector contract (docs/architecture.md): the same scenarios against every connector. A new
 * PSP passes when it has a harness here and this suite is green for it.
 */
const harnesses: [string, () => Promise<ConnectorHarness>][] = [
  ["sandbox", () => sandboxHarness("database")],
  ["sandbox with its books in a file", () => sandboxHarness("file")],
  ["stripe", stripeHarness],
];

const key = (kind = "pay") => `gs${kind}_${randomBytes(12).toString("base64url")}`;
const eur = (minor: number) => ({ minor, currency: "EUR" });

function referenceOf(o: PaymentOutcome | OperationOutcome): string {
  if (!("reference" in o) || !o.reference) throw new Error(`no reference in ${JSON.stringify(o)}`);
  return o.reference;
}

describe.each(harnesses)("connector contract: %s", (_name, start) => {
  let h: ConnectorHarness;
  beforeAll(async () => {
    h = await start();
  });
  afterAll(() => h?.close());

  const pay = (card = h.cards.approve, capture = true, idempotencyKey = key(), minor = 1000) =>
    h.connector.payWithCard(h.ctx, {
      idempotencyKey,
      amount: eur(minor),
      capture,
      card,
      returnUrl: "http://127.0.0.1:9/return/shop/p",
      description: "Genstore payment contract",
    });
  const status = (idempotencyKey: string, reference?: string) =>
    h.connector.paymentStatus(h.ctx, { idempotencyKey, createdAt: new Date(), ...(reference ? { reference } : {}) });

  test("approve: a captured payment, and its status says so", async () => {
    const k = key();
    const outcome = await pay(h.cards.approve, true, k);
    expect(outcome.kind).toBe("approved");
    const ref = referenceOf(outcome);
    expect(await status(k, ref)).toMatchObject({ kind: "approved", reference: ref });
    expect(await h.books(ref)).toEqual({ captured: 1000, refunded: 0 });
  });

  test("decline: a readable reason, never the card number, and the status agrees", async () => {
    const k = key();
    const outcome = await pay(h.cards.decline, true, k);
    expect(outcome).toMatchObject({ kind: "declined", reason: expect.stringMatching(/declined/i) });
    expect(JSON.stringify(outcome)).not.toContain(h.cards.decline.number);
    const after = await status(k, "reference" in outcome ? outcome.reference : undefined);
    expect(after.kind).toBe("declined");
  });

  test("3-D Secure: requires_action with the challenge URL, then approved once the buyer completes it, and the webhook says so", async () => {
    const k = key();
    const first = await pay(h.cards.threeDs, true, k);
    expect(first).toMatchObject({ kind: "requires_action", url: expect.stringMatching(/^https?:\/\//) });
    const ref = referenceOf(first);
    expect((await status(k, ref)).kind).toBe("requires_action");
    const hook = await h.completeChallenge(ref, (first as { url: string }).url);
    expect(await status(k, ref)).toMatchObject({ kind: "approved" });
    const event = h.connector.parseWebhook!(hook.body, hook.headers, hook.shop);
    expect(event).toMatchObject({ target: "payment", idempotencyKey: k, outcome: { kind: "approved", reference: ref } });
  });

  test("manual capture: authorized, captured in full, then approved", async () => {
    const k = key();
    const auth = await pay(h.cards.approve, false, k);
    expect(auth.kind).toBe("authorized");
    const ref = referenceOf(auth);
    expect(await h.books(ref)).toEqual({ captured: 0, refunded: 0 });
    const cap = await h.connector.capture(h.ctx, { idempotencyKey: key("cap"), reference: ref, amount: eur(1000) });
    expect(cap.kind).toBe("succeeded");
    expect((await status(k, ref)).kind).toBe("approved");
    expect(await h.books(ref)).toEqual({ captured: 1000, refunded: 0 });
  });

  test("partial capture: 6.00 of 10.00 is taken, and a second capture is refused", async () => {
    const ref = referenceOf(await pay(h.cards.approve, false));
    const capKey = key("cap");
    expect((await h.connector.capture(h.ctx, { idempotencyKey: capKey, reference: ref, amount: eur(600) })).kind).toBe("succeeded");
    expect(await h.books(ref)).toEqual({ captured: 600, refunded: 0 });
    expect((await h.connector.operationStatus(h.ctx, { kind: "capture", idempotencyKey: capKey, paymentReference: ref })).kind).toBe("succeeded");
    const again = await h.connector.capture(h.ctx, { idempotencyKey: key("cap"), reference: ref, amount: eur(400) });
    expect(again).toMatchObject({ kind: "failed", reason: expect.any(String) });
  });

  test("void: an authorization is released, and cannot be captured afterwards", async () => {
    const ref = referenceOf(await pay(h.cards.approve, false));
    const voidKey = key("voi");
    expect((await h.connector.void(h.ctx, { idempotencyKey: voidKey, reference: ref })).kind).toBe("succeeded");
    expect((await h.connector.operationStatus(h.ctx, { kind: "void", idempotencyKey: voidKey, paymentReference: ref })).kind).toBe("succeeded");
    expect((await h.connector.capture(h.ctx, { idempotencyKey: key("cap"), reference: ref, amount: eur(1000) })).kind).toBe("failed");
    expect(await h.books(ref)).toEqual({ captured: 0, refunded: 0 });
  });

  test("multiple refunds: 3.00 and 4.00 of 10.00 succeed, 4.00 more is refused, and each refund is found by its key", async () => {
    const ref = referenceOf(await pay());
    const k1 = key("ref");
    const r1 = await h.connector.refund(h.ctx, { idempotencyKey: k1, reference: ref, amount: eur(300) });
    const r2 = await h.connector.refund(h.ctx, { idempotencyKey: key("ref"), reference: ref, amount: eur(400) });
    expect([r1.kind, r2.kind]).toEqual(["succeeded", "succeeded"]);
    expect(referenceOf(r1)).not.toBe(referenceOf(r2));
    expect(await h.connector.refund(h.ctx, { idempotencyKey: key("ref"), reference: ref, amount: eur(400) })).toMatchObject({ kind: "failed" });
    expect(await h.books(ref)).toEqual({ captured: 1000, refunded: 700 });
    // Without the refund's reference (its answer was lost), the key finds it.
    expect(await h.connector.operationStatus(h.ctx, { kind: "refund", idempotencyKey: k1, paymentReference: ref })).toMatchObject({
      kind: "succeeded",
      reference: referenceOf(r1),
    });
  });

  test("idempotent retry: the same key twice is one charge with one answer; a refund retried is one refund", async () => {
    const k = key();
    const a = await pay(h.cards.approve, true, k);
    const b = await pay(h.cards.approve, true, k);
    expect(b).toEqual(a);
    expect(await h.chargesWithKey(k)).toBe(1);
    const ref = referenceOf(a);
    const rk = key("ref");
    const r1 = await h.connector.refund(h.ctx, { idempotencyKey: rk, reference: ref, amount: eur(250) });
    const r2 = await h.connector.refund(h.ctx, { idempotencyKey: rk, reference: ref, amount: eur(250) });
    expect(r2).toEqual(r1);
    expect(await h.books(ref)).toEqual({ captured: 1000, refunded: 250 });
  });

  test("unknown outcome: a booked charge whose answer is lost is unknown, never declined, and its status finds it by key", async () => {
    const k = key();
    const outcome = await pay(h.loseNextPaymentAnswer(), true, k);
    expect(outcome.kind).toBe("unknown");
    const found = await status(k);
    expect(found.kind).toBe("approved");
    expect(await h.chargesWithKey(k)).toBe(1);
  });

  test("offsite: a hosted page URL, then approved once the buyer pays there", async () => {
    const k = key();
    const first = await h.connector.payOffsite(h.ctx, {
      idempotencyKey: k,
      amount: eur(2500),
      capture: true,
      returnUrl: "http://127.0.0.1:9/return/shop/p",
      cancelUrl: "http://127.0.0.1:9/return/shop/p?cancelled=1",
      description: "Genstore payment contract",
    });
    expect(first).toMatchObject({ kind: "requires_action", url: expect.stringMatching(/^https?:\/\//) });
    const hook = await h.payHostedPage(referenceOf(first), (first as { url: string }).url);
    const after = await status(k, referenceOf(first));
    expect(after.kind).toBe("approved");
    expect(h.connector.parseWebhook!(hook.body, hook.headers, hook.shop)).toMatchObject({ idempotencyKey: k, outcome: { kind: "approved" } });
  });

  test("wire format: every request the connector sent was accepted by the PSP's own validator", () => {
    const v = h.validated();
    if (v === null) return expect(h.connector.name).toBe("sandbox");
    expect(v.refused).toEqual([]);
    // The scenarios above send well over 30 requests; all of them were checked.
    expect(v.seen).toBeGreaterThan(30);
  });
});
