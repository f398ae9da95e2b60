import examples from "../fixtures/apiPageExamples.json";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";
import { sandboxBooks, storedPayment } from "../helpers/payments";
import { countAllDocuments, getJson, postJson, rawRequest, startTestServer, type TestServer } from "../helpers/testServer";

// The seven Genstore JSON routes over a real HTTP server and a real embedded FerretDB.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

const url = (path: string) => server.url + path;
let seq = 0;
const uniqueId = (prefix: string) => `${prefix}${Date.now()}${++seq}`;

/** The API page's card example with a real encrypted card in place of the placeholder. */
function cardBody(paymentId: string, overrides: Record<string, unknown> = {}) {
  const body = JSON.parse(examples.cardPayment);
  body.paymentId = paymentId;
  body.paymentMethod.data = { ...encryptLikeGenstore(server.publicKey, testCard()), returnUrl: body.paymentMethod.data.returnUrl };
  return { ...body, ...overrides };
}

async function createCardPayment(paymentId: string) {
  const res = await postJson(url("/genstore/v1/payments/card"), cardBody(paymentId));
  expect(res).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
}

describe("the API page's example bodies, verbatim", () => {
  test("credit card payment: decodes, then refuses the placeholder ciphertext with a clear 400 and writes nothing", async () => {
    const before = await countAllDocuments(server.db);
    const res = await rawRequest(url("/genstore/v1/payments/card"), "POST", examples.cardPayment);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^paymentMethod\.data could not be decrypted/);
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test("offsite payment: 200 with a redirectUrl to the hosted page, stored with string booleans decoded", async () => {
    const res = await rawRequest(url("/genstore/v1/payments/offsite"), "POST", examples.offsitePayment);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ redirectUrl: expect.stringMatching(new RegExp(`^${server.url}/sandbox/checkout/ch_[0-9a-f]{24}\\?t=[\\w-]{22}$`)), error: "" });
    const stored = await storedPayment(server, "PI00202410161331562671344");
    expect(stored).toMatchObject({
      shopId: "test-shop",
      method: "offsite",
      test: true,
      manualCapture: true,
      amount: { minor: 10080, value: "100.80", currency: "USD" },
    });
    expect(stored?.returnUrl).toBe("https://www.xxx.shop/pay/result");
    // The order went to the PSP (the sandbox keeps which details it got, not their values) and
    // nothing of the buyer is stored with the payment.
    const [charge] = await sandboxBooks(server.db).find({ reference: stored?.channelPaymentId }).toArray();
    expect(charge?.order).toEqual({
      items: [{ name: "Black Cotton T-Shirt and White Denim Shorts", quantity: 2, unitMinor: 100 }],
      fields: [
        ...["city", "company", "country", "line1", "line2", "name", "phone", "postalCode", "region"].map((f) => `billing.${f}`),
        "email",
        "phone",
        ...["city", "company", "country", "line1", "line2", "name", "phone", "postalCode", "region"].map((f) => `shipping.${f}`),
      ],
      billingCountry: "US",
      shippingCountry: "US",
    });
    await server.app.settled();
    const everything =
      JSON.stringify(await server.db.collection("payments").find({}).toArray()) + JSON.stringify(await sandboxBooks(server.db).find({}).toArray());
    for (const personal of ["xx@gmail.com", "Marshville", "John", "Smith", "+8618800008888", "10013"]) expect(everything).not.toContain(personal);
  });

  test("capture: decodes and answers the page's keys, with the reason the example's payment cannot be captured", async () => {
    const res = await rawRequest(url("/genstore/v1/captures"), "POST", examples.capture);
    expect(res).toMatchObject({ status: 200, body: { channelCaptureId: "", error: "payment 2222 not found" } });
    expect(Object.keys(res.body).sort()).toEqual(["channelCaptureId", "error"]);
  });

  test.each([
    ["void", "/genstore/v1/voids", examples.void, { channelVoidId: "", error: "payment 222 not found" }],
    ["refund", "/genstore/v1/refunds", examples.refund, { channelRefundId: "", error: "payment 1111 not found" }],
  ])(
    "%s: the page's placeholder \"true or false\" is refused naming the field; with a real boolean it decodes and answers the page's keys",
    async (_name, path, text, answer) => {
      const placeholder = await rawRequest(url(path), "POST", text);
      expect(placeholder).toMatchObject({ status: 400, body: { error: "test must be true or false" } });
      for (const value of ['"true"', '"false"', "true", "false"]) {
        const res = await rawRequest(url(path), "POST", text.replace('"true or false"', value));
        expect(res).toMatchObject({ status: 200, body: answer });
        expect(Object.keys(res.body).sort()).toEqual(Object.keys(answer).sort());
      }
    },
  );

  test("get payment and get refund: the example's ids are unknown, answered as the page answers them", async () => {
    const payment = await rawRequest(url("/genstore/v1/payments"), "GET", examples.getPayment);
    expect(payment).toMatchObject({ status: 200, body: { channelPaymentId: "", status: "PROCESSING", error: "Not found payment information." } });
    expect(Object.keys(payment.body).sort()).toEqual(["channelPaymentId", "error", "status"]);
    const refund = await rawRequest(url("/genstore/v1/refunds"), "GET", examples.getRefund);
    expect(refund).toMatchObject({ status: 200, body: { channelRefundId: "", status: "PROCESSING", error: "Not found refund information." } });
    expect(Object.keys(refund.body).sort()).toEqual(["channelRefundId", "error", "status"]);
  });
});

describe("documented answers", () => {
  test("a card payment answers 200 and GET payment answers by query, path and JSON body", async () => {
    const id = uniqueId("PI");
    await createCardPayment(id);
    const stored = await storedPayment(server, id);
    // The example asks for manualCapture "true": authorized, waiting for capture.
    const expected = { status: 200, body: { status: "AUTH_SUCCESS", channelPaymentId: stored?.channelPaymentId, error: "" } };
    expect(stored?.channelPaymentId).toMatch(/^ch_[0-9a-f]{24}$/);
    expect(await getJson(url(`/genstore/v1/payments?paymentId=${id}`))).toEqual(expected);
    expect(await getJson(url(`/genstore/v1/payments/${id}`))).toEqual(expected);
    expect(await rawRequest(url("/genstore/v1/payments"), "GET", JSON.stringify({ paymentId: id }))).toMatchObject(expected);
    expect(stored?.card).toEqual({
      brand: "visa",
      last4: "4242",
      expiryMonth: 12,
      expiryYear: new Date().getUTCFullYear() + 3,
      fingerprint: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
  });

  test("capture and refund of a stored payment answer their channel ids; GET refund finds the refund", async () => {
    const id = uniqueId("PI");
    await createCardPayment(id);
    const capture = await postJson(url("/genstore/v1/captures"), { captureId: uniqueId("C"), paymentId: id, amount: "200.00", test: "true" });
    expect(capture).toEqual({ status: 200, body: { channelCaptureId: expect.stringMatching(/^cp_[0-9a-f]{24}$/), error: "" } });
    const refundId = uniqueId("R");
    const refund = await postJson(url("/genstore/v1/refunds"), { refundId, paymentId: id, amount: "50", test: "true" });
    expect(refund).toEqual({ status: 200, body: { channelRefundId: expect.stringMatching(/^rf_[0-9a-f]{24}$/), error: "" } });
    const got = await getJson(url(`/genstore/v1/refunds/${refundId}`));
    expect(got).toEqual({ status: 200, body: { channelRefundId: refund.body.channelRefundId, status: "SUCCESS", error: "" } });
    expect(await getJson(url(`/genstore/v1/refunds?refundId=${refundId}`))).toEqual(got);
  });

  test("void of an authorized payment answers its channel id", async () => {
    const id = uniqueId("PI");
    await createCardPayment(id);
    const voided = await postJson(url("/genstore/v1/voids"), { voidId: uniqueId("V"), paymentId: id, test: true });
    expect(voided).toEqual({ status: 200, body: { channelVoidId: expect.stringMatching(/^vd_[0-9a-f]{24}$/), error: "" } });
  });

  test("a request's id: a caller's sane X-Request-Id is kept, answered and on the timeline; any other gets one of ours", async () => {
    const kept = uniqueId("PAY-RID");
    const given = `trace-${kept}`;
    const res = await rawRequest(url("/genstore/v1/payments/card"), "POST", JSON.stringify(cardBody(kept)), { "x-request-id": given });
    expect(res.status).toBe(200);
    expect(res.headers["x-request-id"]).toBe(given);
    expect((await storedPayment(server, kept))?.timeline.map((e) => e.requestId)).toEqual([given, given]);

    const ids = new Set<string>();
    for (const bad of ["has spaces", "x".repeat(101), "", undefined]) {
      const paymentId = uniqueId("PAY-RID");
      const r = await rawRequest(
        url("/genstore/v1/payments/card"),
        "POST",
        JSON.stringify(cardBody(paymentId)),
        bad === undefined ? {} : { "x-request-id": bad },
      );
      const ours = String(r.headers["x-request-id"]);
      expect(ours).toMatch(/^req_[\w-]{12}$/);
      expect((await storedPayment(server, paymentId))?.timeline[0]?.requestId).toBe(ours);
      ids.add(ours);
    }
    expect(ids.size).toBe(4);
  });

  test("the same paymentId again answers the same; with another amount it is refused and changes nothing", async () => {
    const id = uniqueId("PI");
    const body = cardBody(id);
    expect(await postJson(url("/genstore/v1/payments/card"), body)).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
    expect(await postJson(url("/genstore/v1/payments/card"), body)).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
    const conflict = await postJson(url("/genstore/v1/payments/card"), { ...body, amount: "201.00" });
    expect(conflict).toEqual({
      status: 200,
      body: { threeDsUrl: "", error: `paymentId ${id} was already received with different parameters; use a new paymentId for a new attempt` },
    });
    const stored = await storedPayment(server, id);
    expect(stored?.amount).toEqual({ minor: 20000, value: "200.00", currency: "USD" });
  });
});

describe("bad input: a 4xx naming the problem, and nothing written", () => {
  const cases: [string, () => { body: string | Buffer; headers?: Record<string, string> }, number, RegExp][] = [
    ["malformed JSON", () => ({ body: '{"paymentId": "x",' }), 400, /^request body is not valid JSON/],
    ["a JSON array", () => ({ body: "[]" }), 400, /^request body must be a JSON object$/],
    [
      "a wrong type (amount as an object)",
      () => ({ body: JSON.stringify(cardBody(uniqueId("PI"), { amount: { value: 1 } })) }),
      400,
      /^amount must be a string$/,
    ],
    [
      "a wrong nested type",
      () => ({ body: JSON.stringify(cardBody(uniqueId("PI"), { customer: { shippingAddress: "Main St" } })) }),
      400,
      /^customer\.shippingAddress must be a JSON object$/,
    ],
    ["a missing required field", () => ({ body: JSON.stringify(cardBody("", {})) }), 400, /^paymentId is required$/],
    [
      "a missing nested required field",
      () => {
        const b = cardBody(uniqueId("PI"));
        delete b.paymentMethod.data.iv;
        return { body: JSON.stringify(b) };
      },
      400,
      /^paymentMethod\.data\.iv is required$/,
    ],
    [
      "a missing boolean",
      () => {
        const b = cardBody(uniqueId("PI"));
        delete b.manualCapture;
        return { body: JSON.stringify(b) };
      },
      400,
      /^manualCapture is required$/,
    ],
    [
      "an amount with too many decimals",
      () => ({ body: JSON.stringify(cardBody(uniqueId("PI"), { amount: "10.001" })) }),
      400,
      /has more decimals than USD allows/,
    ],
    ["a zero amount", () => ({ body: JSON.stringify(cardBody(uniqueId("PI"), { amount: "0.00" })) }), 400, /^amount must be greater than zero$/],
    ["a negative amount", () => ({ body: JSON.stringify(cardBody(uniqueId("PI"), { amount: "-5" })) }), 400, /^amount must be a positive decimal number/],
    ["an unknown currency", () => ({ body: JSON.stringify(cardBody(uniqueId("PI"), { currency: "XYZ" })) }), 400, /^currency must be an ISO 4217 code/],
    [
      "a 100 KiB body",
      () => ({ body: JSON.stringify({ ...cardBody(uniqueId("PI")), padding: "x".repeat(100 * 1024) }) }),
      413,
      /^request body is larger than 65536 bytes$/,
    ],
    [
      "a non-JSON content type",
      () => ({ body: "paymentId=1", headers: { "content-type": "application/x-www-form-urlencoded" } }),
      415,
      /^content type application\/x-www-form-urlencoded is not supported/,
    ],
  ];
  test.each(cases)("%s", async (_name, make, status, message) => {
    const before = await countAllDocuments(server.db);
    const { body, headers } = make();
    const res = await rawRequest(url("/genstore/v1/payments/card"), "POST", body, headers);
    expect(res.status).toBe(status);
    expect(Object.keys(res.body)).toEqual(["error"]);
    expect(res.body.error).toMatch(message);
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test("a wrong verb is a 405 that says which verb to use", async () => {
    const res = await rawRequest(url("/genstore/v1/captures"), "GET");
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe("POST");
    expect(res.body.error).toContain("use POST");
  });

  test("an unknown path is a JSON 404", async () => {
    const res = await rawRequest(url("/genstore/v1/nothing"), "POST", "{}");
    expect(res).toMatchObject({ status: 404, body: { error: "no route for POST /genstore/v1/nothing" } });
  });

  test("unknown fields are ignored and never stored", async () => {
    const id = uniqueId("PI");
    const res = await postJson(url("/genstore/v1/payments/card"), cardBody(id, { surprise: { $where: "1" }, futureField: "x" }));
    expect(res.status).toBe(200);
    await server.app.settled();
    const stored = await server.db.collection("payments").findOne({ genstoreId: id });
    expect(JSON.stringify(stored)).not.toContain("surprise");
    expect(JSON.stringify(stored)).not.toContain("futureField");
  });
});

describe("shops", () => {
  beforeAll(async () => {
    await server.addShop("shop-a");
    await server.addShop("shop-b");
  });

  test("a payment is visible to its own shop only", async () => {
    const id = uniqueId("PI");
    const res = await postJson(url("/genstore/v1/payments/card?shopId=shop-a"), cardBody(id));
    expect(res.status).toBe(200);
    expect((await getJson(url(`/genstore/v1/payments/${id}?shopId=shop-a`))).status).toBe(200);
    expect((await getJson(url(`/genstore/v1/payments/${id}`), { headers: { "x-genstore-shop-id": "shop-a" } })).status).toBe(200);
    const unknown = { status: 200, body: { channelPaymentId: "", status: "PROCESSING", error: "Not found payment information." } };
    expect(await getJson(url(`/genstore/v1/payments/${id}?shopId=shop-b`))).toEqual(unknown);
    expect(await getJson(url(`/genstore/v1/payments/${id}`))).toEqual(unknown);
  });

  test("a shop this deployment does not serve gets a 403 and nothing is written", async () => {
    const before = await countAllDocuments(server.db);
    const res = await postJson(url("/genstore/v1/payments/card?shopId=stranger"), cardBody(uniqueId("PI")));
    expect(res).toEqual({
      status: 403,
      body: { error: "shop stranger is not set up in this payment app: an operator must add it with ShopService.CreateShop" },
    });
    expect(await countAllDocuments(server.db)).toBe(before);
  });

  test("a malformed shop id is refused", async () => {
    const res = await getJson(url(`/genstore/v1/payments/x?shopId=${encodeURIComponent("a/../b")}`));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^shopId must be/);
  });
});

test("the card-encryption public key is served as base64 SPKI DER", async () => {
  const res = await getJson(url("/genstore/v1/card-encryption-key"));
  expect(res.status).toBe(200);
  expect(res.body.publicKey).toBe(server.publicKey);
  expect(Buffer.from(String(res.body.publicKey), "base64").length).toBe(91);
});

test("/metrics counts the documents write commands carry, beside the commands", async () => {
  await createCardPayment(uniqueId("PM"));
  const text = await (await fetch(url("/metrics"))).text();
  const value = (metric: string, command: string) =>
    Number(new RegExp(`^${metric}\\{database="${server.db.databaseName}",collection="payments",command="${command}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
  expect(value("db_command_documents_total", "insert")).toBeGreaterThanOrEqual(1);
  expect(value("db_command_documents_total", "update")).toBeGreaterThanOrEqual(value("db_commands_total", "update"));
  expect(value("db_commands_total", "update")).toBeGreaterThanOrEqual(1);
});
