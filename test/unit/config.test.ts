import { ConfigError, loadConfig } from "../../src/config";

test("a Stripe default shop is checked at start-up, naming the setting and not the secret", () => {
  const env = { DEFAULT_SHOP_PSP: "stripe", DEFAULT_SHOP_PSP_TEST_CREDENTIALS: JSON.stringify({ secretKey: "sk_live_oops123" }) };
  expect(() => loadConfig(env)).toThrow(ConfigError);
  expect(() => loadConfig(env)).toThrow(
    "DEFAULT_SHOP_PSP_*_CREDENTIALS for stripe: test credentials: secretKey must be a Stripe test key (sk_test_… or rk_test_…)",
  );
  expect(() => loadConfig({ DEFAULT_SHOP_PSP: "paypal" })).toThrow('DEFAULT_SHOP_PSP must be sandbox, stripe or none, got "paypal"');
});

test("Stripe settings: defaults, and an API base for stripe-mock", () => {
  const ok = loadConfig({
    DEFAULT_SHOP_PSP: "stripe",
    DEFAULT_SHOP_PSP_TEST_CREDENTIALS: JSON.stringify({ secretKey: "sk_test_abc", webhookSecret: "whsec_abc" }),
  });
  expect(ok.defaultShop).toMatchObject({ psp: "stripe", testCredentials: { secretKey: "sk_test_abc", webhookSecret: "whsec_abc" }, liveCredentials: {} });
  expect(ok.connectors.stripe).toEqual({ apiBase: undefined, timeoutMs: 30_000, maxNetworkRetries: 2 });
  expect(loadConfig({ STRIPE_API_BASE: "http://127.0.0.1:12111/", STRIPE_MAX_NETWORK_RETRIES: "0" }).connectors.stripe).toMatchObject({
    apiBase: "http://127.0.0.1:12111",
    maxNetworkRetries: 0,
  });
  expect(() => loadConfig({ STRIPE_API_BASE: "ftp://x" })).toThrow(ConfigError);
});

test("database settings: the pool left to the engine unless set, SQLite's sync full unless set to normal", () => {
  expect(loadConfig({}).database).toMatchObject({ poolSize: undefined, embeddedSync: "full" });
  expect(loadConfig({ DATABASE_POOL_SIZE: "4", EMBEDDED_DATABASE_SYNC: "normal" }).database).toMatchObject({ poolSize: 4, embeddedSync: "normal" });
  expect(() => loadConfig({ EMBEDDED_DATABASE_SYNC: "off" })).toThrow('EMBEDDED_DATABASE_SYNC must be one of full, normal, got "off"');
  expect(() => loadConfig({ DATABASE_POOL_SIZE: "0" })).toThrow("DATABASE_POOL_SIZE must be between 1 and 1000");
});

test("scale-out settings: one instance by default, an id from host and pid, leases of 10 s", () => {
  const { scaleOut } = loadConfig({});
  expect(scaleOut).toMatchObject({ sharedDatabase: false, leaseTtlMs: 10_000, embeddedDatabasePort: 0 });
  expect(scaleOut.instanceId).toMatch(new RegExp(`-${process.pid}$`));
  expect(loadConfig({ SHARED_DATABASE: "true", INSTANCE_ID: "pay-a.1", LEASE_TTL_MS: "3000", EMBEDDED_DATABASE_PORT: "27018" }).scaleOut).toEqual({
    instanceId: "pay-a.1",
    sharedDatabase: true,
    leaseTtlMs: 3000,
    embeddedDatabasePort: 27018,
  });
  expect(() => loadConfig({ INSTANCE_ID: "a b" })).toThrow('INSTANCE_ID must be 1-64 letters, digits, ".", "_" or "-", got "a b"');
  expect(() => loadConfig({ SHARED_DATABASE: "maybe" })).toThrow("SHARED_DATABASE must be true or false");
  expect(() => loadConfig({ LEASE_TTL_MS: "100" })).toThrow("LEASE_TTL_MS must be between 500 and 600000, got 100");
});

test("the sandbox's books: auto unless set; a file cannot serve instances that share a database", () => {
  expect(loadConfig({}).connectors.sandbox).toMatchObject({ books: "auto" });
  expect(loadConfig({ SANDBOX_BOOKS: "file" }).connectors.sandbox).toMatchObject({ books: "file" });
  expect(loadConfig({ SANDBOX_BOOKS: "database", SHARED_DATABASE: "true" }).connectors.sandbox).toMatchObject({ books: "database" });
  expect(() => loadConfig({ SANDBOX_BOOKS: "memory" })).toThrow('SANDBOX_BOOKS must be auto, file or database, got "memory"');
  expect(() => loadConfig({ SANDBOX_BOOKS: "file", SHARED_DATABASE: "true" })).toThrow(
    "SANDBOX_BOOKS=file cannot be used with SHARED_DATABASE: the instances must share the sandbox's books, in the database",
  );
});
