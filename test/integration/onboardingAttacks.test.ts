import { createFakeGenstoreApp, nowSeconds, signQuery } from "../helpers/fakeGenstoreApp";
import { clientSecret, Code, shopDomain, shopId, startOnboardingWorld, type OnboardingWorld } from "../helpers/onboardingSetup";
import { countAllDocuments } from "../helpers/testServer";

// Every way into onboarding that is not Genstore's or the merchant's own is refused, and a
// refusal stores nothing and calls nothing (neither Genstore nor a PSP).
let world: OnboardingWorld;
beforeAll(async () => {
  world = await startOnboardingWorld();
});
afterAll(async () => {
  await world.stop();
});

const get = (url: string, cookie = "") => fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
const cookiesOf = (res: Response) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .filter((c) => !c.endsWith("="))
    .join("; ");

/** Opens the App URL of a shop without a token (wiped first if it has one): the consent redirect and the state cookie. */
async function startInstall() {
  if ((await world.shops.listShops({})).shops.some((s) => s.shopId === shopId && s.hasGenstoreAccessToken)) await world.shops.deactivateShop({ shopId });
  const res = await get(world.app.appUrl(world.server.url, shopDomain));
  expect(res.status).toBe(303);
  const consent = new URL(res.headers.get("location")!);
  return { state: consent.searchParams.get("state")!, cookie: cookiesOf(res), redirectUri: consent.searchParams.get("redirectUri")! };
}

/** Nothing stored, and nobody called, while `run` goes. */
async function refusedQuietly(run: () => Promise<void>) {
  const documents = await countAllDocuments(world.server.db);
  const calls = world.genstore.calls.length;
  const stripe = world.stripe.requests.length;
  await run();
  expect(await countAllDocuments(world.server.db)).toBe(documents);
  expect(world.genstore.calls.length).toBe(calls);
  expect(world.stripe.requests.length).toBe(stripe);
}

test("App URL: a forged, stale, unsigned or foreign-domain link is refused", async () => {
  const app = world.app.appUrl(world.server.url, shopDomain);
  await refusedQuietly(async () => {
    expect((await get(app.replace(/hmac=[0-9a-f]+/, `hmac=${"0".repeat(64)}`))).status).toBe(401);
    expect((await get(app.replace(/shopId=[^&]+/, "shopId=other-2002"))).status).toBe(401);
    const stale = signQuery(clientSecret, { shop: shopDomain, shopId, timestamp: String(Math.floor(Date.now() / 1000) - 3600) });
    expect((await get(`${world.server.url}/app?${stale}`)).status).toBe(401);
    expect((await get(`${world.server.url}/app?shop=${shopDomain}&shopId=${shopId}&timestamp=${nowSeconds()}`)).status).toBe(401);
    const wrongSecret = createFakeGenstoreApp({ clientId: "x", clientSecret: "not-the-secret", shops: { [shopDomain]: shopId } });
    expect((await get(wrongSecret.appUrl(world.server.url, shopDomain))).status).toBe(401);
    const evil = signQuery(clientSecret, { shop: "attacker.example", shopId, timestamp: nowSeconds() });
    expect((await get(`${world.server.url}/app?${evil}`)).status).toBe(400);
  });
});

test("OAuth redirect: a wrong state, a missing state cookie or a replayed code is refused before any token request", async () => {
  const { state, cookie, redirectUri } = await startInstall();
  await refusedQuietly(async () => {
    const other = world.app.consentRedirect(redirectUri, shopDomain, "not-the-state");
    expect((await get(other.url, cookie)).status).toBe(403);
    const noCookie = world.app.consentRedirect(redirectUri, shopDomain, state);
    expect((await get(noCookie.url)).status).toBe(403);
  });
  // The genuine redirect installs the app once.
  const genuine = world.app.consentRedirect(redirectUri, shopDomain, state);
  const done = await get(genuine.url, cookie);
  expect(done.status).toBe(303);
  expect(done.headers.get("location")).toBe("/app/settings");
  expect(world.app.exchanges.get(genuine.code)).toBe(1);
  // The same code again, even with a fresh state: refused without asking Genstore.
  const again = await startInstall();
  const calls = world.genstore.calls.length;
  const replay = await get(genuine.url.replace(/state=[^&]+/, `state=${again.state}`), again.cookie);
  expect(replay.status).toBe(401); // the redirect's hmac no longer matches once state changes
  const resigned = `${redirectUri}?${signQuery(clientSecret, { code: genuine.code, shop: shopDomain, shopId, state: again.state, timestamp: nowSeconds() })}`;
  const replayed = await get(resigned, again.cookie);
  expect(replayed.status).toBe(400);
  expect(await replayed.text()).toContain("already used");
  expect(world.app.exchanges.get(genuine.code)).toBe(1);
  expect(world.genstore.calls.length).toBe(calls);
});

test("authorization page: no session, or a form without its CSRF token, changes nothing", async () => {
  const { state, cookie, redirectUri } = await startInstall();
  const signedIn = await get(world.app.consentRedirect(redirectUri, shopDomain, state).url, cookie);
  const session = cookiesOf(signedIn);
  expect(session).toMatch(/__Host-gsp_merchant=/);
  expect(signedIn.headers.getSetCookie().join("\n")).toMatch(/__Host-gsp_merchant=[^;]+; Path=\/; Max-Age=\d+; Secure; HttpOnly; SameSite=Lax/);
  const page = await (await get(`${world.server.url}/app/settings`, session)).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
  const post = (body: string, c = session, headers: Record<string, string> = {}) =>
    fetch(`${world.server.url}/app/settings`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: c, ...headers },
      body,
    });
  const form = "psp=stripe&cred.stripe.test.secretKey=sk_test_abcdef123456";
  await refusedQuietly(async () => {
    expect((await get(`${world.server.url}/app/settings`)).status).toBe(401);
    expect((await post(form)).status).toBe(403);
    expect((await post(`${form}&csrf=${"A".repeat(43)}`)).status).toBe(403);
    expect((await post(`${form}&csrf=${csrf}`, "")).status).toBe(401);
    expect((await post(`${form}&csrf=${csrf}`, session, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post(`${form}&csrf=${csrf}`, session.replace(/=([A-Za-z0-9_-]{10})/, "=AAAAAAAAAA"))).status).toBe(401);
  });
  const saved = await post(`psp=sandbox&cred.sandbox.test.merchantId=m1&csrf=${csrf}`);
  expect(saved.status).toBe(200);
  expect(await saved.text()).toContain("Activated.");
});

test("Genstore webhooks: unsigned or mis-signed ones are refused; uninstall, redaction and compliance topics are answered", async () => {
  await world.shops.createShop({
    shopId: "victim",
    settings: { psp: "sandbox", testCredentials: { values: { merchantId: "v" } }, genstoreAccessToken: "gat_victim_token" },
  });
  await refusedQuietly(async () => {
    expect((await world.webhook("app/uninstalled", { shopId: "victim" }, { sign: false })).status).toBe(401);
    expect((await world.webhook("app/uninstalled", { shopId: "victim" }, { secret: "wrong-secret" })).status).toBe(401);
    expect((await world.webhook("shop/redact", { shopId: "victim" }, { headers: { "x-genstore-shop-id": shopId } })).status).toBe(401);
  });
  expect((await world.shops.getShop({ shopId: "victim" })).shop).toMatchObject({ hasGenstoreAccessToken: true, testCredentialNames: ["merchantId"] });

  for (const topic of ["customers/data_request", "customers/redact"]) {
    const res = await world.webhook(topic, { shopId: "victim", customer: { id: 1 } }, { encoding: "hex" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ customerPersonalData: "none kept" });
  }
  // The topic is not signed: a compliance body (or a pushed code) replayed as an uninstall or a
  // redaction is refused, and a redaction of a shop still installed is ignored.
  await refusedQuietly(async () => {
    for (const topic of ["app/uninstalled", "shop/redact"]) {
      // With a webhook id too: a refused webhook does not claim it (nothing is written).
      const res = await world.webhook(topic, { shopId: "victim", customer: { id: 1 } }, { headers: { "x-genstore-webhook-id": `wh-replayed-${topic}` } });
      expect(res.status).toBe(401);
      const pushed = await world.webhook(topic, { authCode: { clientId: "app_test_client", shopId: "victim", code: "c" } });
      expect(pushed.status).toBe(401);
    }
    expect(await (await world.webhook("shop/redact", { shop_id: "victim" })).json()).toMatchObject({ ignored: expect.stringContaining("still installed") });
  });
  expect((await world.shops.getShop({ shopId: "victim" })).shop).toMatchObject({ hasGenstoreAccessToken: true, testCredentialNames: ["merchantId"] });
  expect((await world.webhook("app/uninstalled", { shopId: "victim" }, { headers: { "x-genstore-webhook-id": "wh-1" } })).status).toBe(200);
  expect((await world.shops.getShop({ shopId: "victim" })).shop).toMatchObject({ hasGenstoreAccessToken: false, testCredentialNames: [] });
  expect(await (await world.webhook("app/uninstalled", { shopId: "victim" }, { headers: { "x-genstore-webhook-id": "wh-1" } })).json()).toMatchObject({
    duplicate: true,
  });
  expect((await world.webhook("shop/redact", { shop_id: "victim" })).status).toBe(200);
  await expect(world.shops.getShop({ shopId: "victim" })).rejects.toMatchObject({ code: Code.NotFound });
});

test("a code pushed by app/authorizationCodeGranted installs the shop; another app's code is ignored", async () => {
  const { code } = world.app.consentRedirect("http://unused", "other.genmystore.com", "s");
  const foreign = await world.webhook(
    "app/authorizationCodeGranted",
    { authCode: { clientId: "someone-else", shopId: "other-2002", code } },
    { headers: { "x-genstore-shop-domain": "other.genmystore.com" } },
  );
  expect(await foreign.json()).toMatchObject({ ignored: "not for this app" });
  expect(world.app.exchanges.get(code)).toBe(0);
  const res = await world.webhook(
    "app/authorizationCodeGranted",
    { authCode: { clientId: "app_test_client", shopId: "other-2002", code } },
    { headers: { "x-genstore-shop-domain": "other.genmystore.com" } },
  );
  expect(await res.json()).toMatchObject({ installed: true });
  const shop = (await world.shops.getShop({ shopId: "other-2002" })).shop!;
  expect(shop).toMatchObject({ hasGenstoreAccessToken: true, shopDomain: "other.genmystore.com" });
  // Installed but not authorized yet: Genstore's payment requests for it are refused.
  expect(shop.deactivateTime).toBeDefined();
});

test("ShopService: DeactivateShop wipes secrets (uninstalling at Genstore when asked) and DeleteShop removes the settings", async () => {
  await world.shops.createShop({
    shopId: "ops-1",
    settings: { psp: "sandbox", genstoreAccessToken: "gat_ops", callbackBaseUrl: `${world.genstore.url}/shops/ops.genmystore.com` },
  });
  const off = await world.shops.deactivateShop({ shopId: "ops-1", uninstallFromGenstore: true });
  expect(off.shop).toMatchObject({ hasGenstoreAccessToken: false });
  expect(off.shop?.deactivateTime).toBeDefined();
  expect(world.genstore.calls.at(-1)).toMatchObject({ method: "DELETE", path: "/shops/ops.genmystore.com/api/202412/oauth2/uninstall", token: "gat_ops" });
  await world.shops.deleteShop({ shopId: "ops-1" });
  await expect(world.shops.getShop({ shopId: "ops-1" })).rejects.toMatchObject({ code: Code.NotFound });
  await expect(world.shops.deleteShop({ shopId: "ops-1" })).rejects.toMatchObject({ code: Code.NotFound });
});
