import { ConfigError, loadConfig } from "../../src/config";

// Onboarding is off without a client id; with one, each setting is checked at start-up with one clear line.
test("onboarding settings: off by default, defaults when on, refusals naming the setting", () => {
  expect(loadConfig({}).onboarding).toBeUndefined();
  const secret = { GENSTORE_CLIENT_SECRET: "s3cret-client-secret" };
  expect(loadConfig({ ...secret, GENSTORE_CLIENT_ID: "app_1" }).onboarding).toEqual({
    clientId: "app_1",
    shopUrlTemplate: "https://{shop}",
    shopDomains: ["*.genmystore.com", "*.genmystore.ai"],
    scopes: ["read_payment", "write_payment"],
  });
  expect(
    loadConfig({
      ...secret,
      GENSTORE_CLIENT_ID: "app_1",
      GENSTORE_SHOP_URL: "http://127.0.0.1:9/shops/{shop}/",
      GENSTORE_SHOP_DOMAINS: "Shops.Example",
      GENSTORE_SCOPES: "a, b",
    }).onboarding,
  ).toMatchObject({ shopUrlTemplate: "http://127.0.0.1:9/shops/{shop}", shopDomains: ["shops.example"], scopes: ["a", "b"] });

  expect(() => loadConfig({ GENSTORE_CLIENT_ID: "app_1" })).toThrow("GENSTORE_CLIENT_ID needs GENSTORE_CLIENT_SECRET");
  expect(() => loadConfig({ ...secret, GENSTORE_CLIENT_ID: "app 1" })).toThrow(ConfigError);
  expect(() => loadConfig({ ...secret, GENSTORE_CLIENT_ID: "app_1", GENSTORE_SHOP_URL: "https://genmystore.com" })).toThrow(
    "GENSTORE_SHOP_URL must be an http(s) URL containing {shop}",
  );
  expect(() => loadConfig({ ...secret, GENSTORE_CLIENT_ID: "app_1", GENSTORE_SHOP_DOMAINS: "evil.example/path" })).toThrow("GENSTORE_SHOP_DOMAINS");
  expect(() => loadConfig({ ...secret, GENSTORE_CLIENT_ID: "app_1", GENSTORE_SCOPES: "a b" })).toThrow("GENSTORE_SCOPES");
  const production = { ...secret, NODE_ENV: "production", DEFAULT_SHOP_PSP: "none", SECRETS_KEY: "x", GENSTORE_CLIENT_ID: "app_1" };
  expect(() => loadConfig(production)).toThrow("GENSTORE_CLIENT_ID needs PUBLIC_URL in production");
  expect(() => loadConfig({ ...production, PUBLIC_URL: "https://pay.example", GENSTORE_SHOP_URL: "http://{shop}" })).toThrow(
    "GENSTORE_SHOP_URL must be https in production",
  );
});
