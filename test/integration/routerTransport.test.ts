import { Code, createClient, createContextValues, createRouterTransport } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { MongoClient, type Db } from "mongodb";
import { PaymentStatus } from "../../gen/genstore/payment/v1/common_pb";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { createCardDecryptor } from "../../src/crypto/cardDecryptor";
import { generateCardKeyPem, parsePrivateKey } from "../../src/crypto/keyring";
import { createSecretBox } from "../../src/crypto/secretBox";
import { createPaymentUseCases } from "../../src/payments/use-cases/index";
import { createShopDirectory } from "../../src/payments/shops";
import { createConnectorRegistry } from "../../src/psp/registry";
import { createSandboxConnector } from "../../src/psp/sandbox/connector";
import { createSandboxLedger } from "../../src/psp/sandbox/ledger";
import { createPaymentServiceImpl } from "../../src/server/paymentServiceImpl";
import { requestContextKey } from "../../src/server/requestContext";
import { createPaymentRepository } from "../../src/store/paymentRepository";
import { createShopRepository } from "../../src/store/shopRepository";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";

// The service implementation with injected dependencies, through Connect's in-memory transport:
// no HTTP, but the real repository on the run's FerretDB.
let client: MongoClient;
let db: Db;
const key = parsePrivateKey(generateCardKeyPem(), "k");
const fixedNow = new Date("2026-01-02T03:04:05Z");
const secretBox = createSecretBox(randomBytes(32));

beforeAll(async () => {
  client = new MongoClient(process.env.TEST_MONGODB_URI ?? "");
  await client.connect();
  db = client.db(`router_${randomBytes(4).toString("hex")}`);
  const shops = createShopRepository(db, secretBox);
  for (const shopId of ["shop-1", "shop-2", "shop-3"]) {
    await shops.create({
      shopId,
      psp: "sandbox",
      testCredentials: {},
      liveCredentials: {},
      genstoreAccessToken: undefined,
      callbackBaseUrl: `https://${shopId}.genmystore.com`,
      manualCaptureMeansAuthorizeOnly: true,
      createdAt: fixedNow,
      updatedAt: fixedNow,
    });
  }
});
afterAll(async () => {
  await db.dropDatabase();
  await client.close();
});

function transportFor(shopId: string) {
  const publicUrl = () => "https://pay.example";
  const useCases = createPaymentUseCases({
    repository: createPaymentRepository(db),
    shops: createShopDirectory(createShopRepository(db, secretBox), undefined),
    connectors: createConnectorRegistry([createSandboxConnector({ ledger: createSandboxLedger(db), publicUrl, webhookSecret: "test" })]),
    cards: createCardDecryptor({ keys: [key], source: "test" }, { fingerprintKey: randomBytes(32) }),
    returnLink: (shop, payment) => `${publicUrl()}/return/${shop}/${payment}`,
    pspTimeoutMs: 5000,
    log: () => {},
    now: () => fixedNow,
  });
  const impl = createPaymentServiceImpl(useCases, () => {});
  const shops = createShopDirectory(createShopRepository(db, secretBox), undefined);
  // Stands in for the request gate: the shop as authenticated.
  return createRouterTransport(({ service }) => service(PaymentService, impl), {
    router: {
      interceptors: [
        (next) => async (req) =>
          next({
            ...req,
            contextValues: createContextValues().set(requestContextKey, { requestId: "test", shop: await shops.get(shopId), principal: { kind: "unsigned" } }),
          }),
      ],
    },
  });
}

test("offsite payment: the redirect uses the configured public URL and the record carries shop and clock", async () => {
  const payments = createClient(PaymentService, transportFor("shop-1"));
  const res = await payments.createOffsitePayment({
    paymentId: "OFF-1",
    amount: "5",
    currency: "JPY",
    test: false,
    manualCapture: false,
    paymentMethod: { data: { returnUrl: "https://shop.example/r" } },
    customer: {},
    purchaseInfo: {},
  });
  expect(res.redirectUrl).toMatch(/^https:\/\/pay\.example\/sandbox\/checkout\/ch_[0-9a-f]{24}\?t=[\w-]{22}$/);
  const stored = await db.collection("payments").findOne({ genstoreId: "OFF-1" });
  expect(stored).toMatchObject({ shopId: "shop-1", amount: { minor: 5, currency: "JPY" }, test: false, createdAt: fixedNow });
});

test("card payment through the injected decryptor, then GET payment; another shop gets NotFound", async () => {
  const payments = createClient(PaymentService, transportFor("shop-2"));
  await payments.createCardPayment({
    paymentId: "CARD-1",
    amount: "1.50",
    currency: "EUR",
    test: true,
    manualCapture: true,
    paymentMethod: { data: encryptLikeGenstore(key.publicKeySpki, testCard("5555555555554444")) },
    customer: {},
    clientDetails: {},
  });
  expect((await payments.getPayment({ paymentId: "CARD-1" })).status).toBe(PaymentStatus.AUTH_SUCCESS);
  const stored = await db.collection("payments").findOne({ genstoreId: "CARD-1" });
  expect(stored?.card).toMatchObject({ brand: "mastercard", last4: "4444" });
  const other = createClient(PaymentService, transportFor("shop-3"));
  await expect(other.getPayment({ paymentId: "CARD-1" })).rejects.toMatchObject({ code: Code.NotFound });
});
