import { createHmac } from "node:crypto";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { shopPattern } from "../../src/payments/shops";
import { parseInternalTokens } from "../../src/server/auth/internalTokens";
import { cardBody, storedPayment, uniqueId } from "../helpers/payments";
import { createProtocolCaller, protocols, type CallAuth, type Protocol } from "../helpers/protocolCaller";
import { countAllDocuments, postJson, startTestServer, type TestServer } from "../helpers/testServer";

// The trust boundary, tried as an attacker would, on every protocol of the port: each row is
// refused and writes nothing, and the properly signed or tokened request is served.
const secret = "cs_deployment_0123456789abcdef";
const shopBSecret = "cs_shop_b_only_fedcba9876543210";
const token = (name: string) => `${name}-${"x".repeat(40)}`;
const internalTokens = parseInternalTokens(
  JSON.stringify([
    { name: "ledger-a", token: token("ledger-a"), shops: ["shop-a"], access: "read" },
    { name: "ops-a", token: token("ops-a"), shops: ["shop-a"], access: "write" },
    { name: "ops-b", token: token("ops-b"), shops: ["shop-b"], access: "write" },
  ]),
  shopPattern,
);

let server: TestServer;
let caller: ReturnType<typeof createProtocolCaller>;
const paymentId = uniqueId("ATK");
const now = () => String(Math.floor(Date.now() / 1000));

/** key=value pairs in the order given, signed over the sorted pairs as Genstore does. */
function signed(pairs: [string, string][], key = secret): string {
  const message = [...pairs]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  return `${pairs.map(([k, v]) => `${k}=${v}`).join("&")}&hmac=${createHmac("sha256", key).update(message).digest("hex")}`;
}

beforeAll(async () => {
  if (typeof internalTokens === "string") throw new Error(internalTokens);
  // No dispatcher or reconciler: nothing but the requests themselves writes to the database.
  server = await startTestServer({ background: false, security: { genstoreClientSecret: secret, requireSignature: true, internalTokens } });
  await server.addShop("shop-a");
  await server.addShop("shop-b", { genstoreClientSecret: shopBSecret });
  caller = createProtocolCaller(server.url, server.port);
  const paid = await postJson(
    `${server.url}/genstore/v1/payments/card?${signed([
      ["shopId", "shop-a"],
      ["timestamp", now()],
    ])}`,
    cardBody(server, paymentId, { amount: "200.00", manualCapture: false }),
  );
  expect(paid.status).toBe(200);
  expect((await storedPayment(server, paymentId))?.state).toBe("captured");
});
afterAll(async () => {
  caller.close();
  await server.stop();
});

const refund = () => ({ method: PaymentService.method.refundPayment, request: { refundId: uniqueId("R"), paymentId, amount: "1.00", test: true } });
const read = () => ({ method: PaymentService.method.getPayment, request: { paymentId } });
const bearer = (name: string, shop = "shop-a") => ({ authorization: `Bearer ${token(name)}`, "x-genstore-shop-id": shop });

const refused: [
  string,
  () => { method: typeof PaymentService.method.refundPayment | typeof PaymentService.method.getPayment; request: object },
  () => CallAuth,
  string,
][] = [
  ["unsigned", refund, () => ({}), "unauthenticated"],
  ["unsigned, the shop chosen by a header", refund, () => ({ headers: { "x-genstore-shop-id": "shop-a" } }), "unauthenticated"],
  ["a wrong signature", refund, () => ({ query: `shopId=shop-a&timestamp=${now()}&hmac=${"ab".repeat(32)}` }), "unauthenticated"],
  [
    "a stale timestamp",
    refund,
    () => ({
      query: signed([
        ["shopId", "shop-a"],
        ["timestamp", String(Number(now()) - 600)],
      ]),
    }),
    "unauthenticated",
  ],
  ["a signed query without a timestamp", refund, () => ({ query: signed([["shopId", "shop-a"]]) }), "unauthenticated"],
  [
    "another shop's signature (shop-b signs with its own secret)",
    refund,
    () => ({
      query: signed([
        ["shopId", "shop-b"],
        ["timestamp", now()],
      ]),
    }),
    "unauthenticated",
  ],
  [
    "a signed query for shop-b with a header naming shop-a",
    refund,
    () => ({
      query: signed(
        [
          ["shopId", "shop-b"],
          ["timestamp", now()],
        ],
        shopBSecret,
      ),
      headers: { "x-genstore-shop-id": "shop-a" },
    }),
    "unauthenticated",
  ],
  [
    "shop-a's parameter with shop-b's signature",
    refund,
    () => ({
      query: signed(
        [
          ["shopId", "shop-b"],
          ["timestamp", now()],
        ],
        shopBSecret,
      ).replace("shopId=shop-b", "shopId=shop-a"),
    }),
    "unauthenticated",
  ],
  ["an internal token of another shop", refund, () => ({ headers: bearer("ops-b") }), "permission_denied"],
  ["a read-only token on a money-moving method", refund, () => ({ headers: bearer("ledger-a") }), "permission_denied"],
  ["an unknown bearer token", refund, () => ({ headers: { authorization: `Bearer ${"z".repeat(48)}`, "x-genstore-shop-id": "shop-a" } }), "unauthenticated"],
  ["the read-only token reading another shop", read, () => ({ headers: bearer("ledger-a", "shop-b") }), "permission_denied"],
];

describe.each(protocols.map((p) => [p] as [Protocol]))("%s", (protocol) => {
  test.each(refused)("%s is refused and writes nothing", async (_name, what, auth, code) => {
    const { method, request } = what();
    const before = await countAllDocuments(server.db);
    const payment = await storedPayment(server, paymentId);
    const res = await caller.call(protocol, method, request, auth());
    expect(res).toMatchObject({ ok: false, code });
    expect(await countAllDocuments(server.db)).toBe(before);
    expect(await storedPayment(server, paymentId)).toEqual(payment);
  });

  test("a signed request, its parameters in any order, is served", async () => {
    // Genstore sorts the pairs before signing; the URL may carry them in another order.
    const res = await caller.call(protocol, refund().method, refund().request, {
      query: signed([
        ["timestamp", now()],
        ["shopId", "shop-a"],
      ]),
    });
    expect(res).toMatchObject({ ok: true, body: { channelRefundId: expect.stringMatching(/^rf_/) } });
  });

  test("a shop's own secret signs its requests", async () => {
    const res = await caller.call(
      protocol,
      read().method,
      { paymentId: "unknown-in-b" },
      {
        query: signed(
          [
            ["shopId", "shop-b"],
            ["timestamp", now()],
          ],
          shopBSecret,
        ),
      },
    );
    // Authenticated for shop-b, which has no such payment: the rules answered, not the gate.
    expect(res).not.toMatchObject({ code: "unauthenticated" });
    expect(res).not.toMatchObject({ code: "permission_denied" });
  });

  test("a write token for the shop moves money; the read-only token reads", async () => {
    expect(await caller.call(protocol, refund().method, refund().request, { headers: bearer("ops-a") })).toMatchObject({
      ok: true,
      body: { channelRefundId: expect.stringMatching(/^rf_/) },
    });
    expect(await caller.call(protocol, read().method, read().request, { headers: bearer("ledger-a") })).toMatchObject({
      ok: true,
      body: { status: expect.stringMatching(/^(PAYMENT_STATUS_)?SUCCESS$/) },
    });
  });
});

test("the same signed query as X-Genstore-Query metadata on Connect JSON", async () => {
  const res = await caller.connectJsonWithHeader(refund().method, refund().request, {
    query: signed([
      ["timestamp", now()],
      ["shopId", "shop-a"],
    ]),
  });
  expect(res).toMatchObject({ ok: true });
});
