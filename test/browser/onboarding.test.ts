import { copyFileSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { launchBrowser, type TestBrowser } from "../helpers/browser";
import { everyDocument, shopDomain, shopId, startOnboardingWorld, type OnboardingWorld } from "../helpers/onboardingSetup";
import { uniqueId } from "../helpers/payments";
import { waitFor } from "../helpers/waitFor";

// The merchant's whole journey in a real Chromium at a phone's width: install through the fake
// Genstore's consent page, our authorization page (a refused Stripe key, then sandbox
// credentials), account_authorize, a payment, the uninstall webhook, and the refusal after it.
let world: OnboardingWorld;
let browser: TestBrowser;
beforeAll(async () => {
  world = await startOnboardingWorld();
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await world?.stop();
});

// Runs in the page (a string: this project's TypeScript has no DOM types).
const noHorizontalScroll = () => browser.page.evaluate<boolean>("document.documentElement.scrollWidth <= window.innerWidth");

test("install, authorize with a PSP checked by the PSP, activate, pay, uninstall", async () => {
  const { page } = browser;
  const revoked = "sk_test_revokedKEY000111222";
  world.stripe.revokeKey(revoked);
  const pages: string[] = [];
  page.on(
    "load",
    () =>
      void page.content().then(
        (html) => pages.push(html),
        () => {},
      ),
  );

  // Genstore opens the App URL; a shop without a token goes to Genstore's consent page.
  await page.goto(world.app.appUrl(world.server.url, shopDomain));
  await page.getByRole("heading", { name: "Install payment app" }).waitFor();
  await browser.screenshot("onboarding-1-consent");
  await page.getByRole("button", { name: "Install app" }).click();

  // Back on our authorization page, signed in by the redirect.
  await page.getByRole("heading", { name: "Connect your payment provider" }).waitFor();
  expect(page.url()).toBe(`${world.server.url}/app/settings`);
  expect(world.app.tokens.get(shopId)).toMatch(/^gat_/);
  expect(await noHorizontalScroll()).toBe(true);
  await browser.screenshot("onboarding-2-authorization-form");

  // Stripe with a key Stripe refuses: a clear message, nothing saved, Genstore not called.
  await page.getByLabel("Stripe").check();
  await page.locator("#cred-stripe-test-secretKey").fill(revoked);
  await page.getByRole("button", { name: "Save and activate" }).click();
  await page.getByRole("alert").getByText("Stripe refused the secret key").waitFor();
  await browser.screenshot("onboarding-3-stripe-refused");
  expect(world.genstore.calls.filter((c) => c.path.includes("account_authorize"))).toHaveLength(0);
  const before = (await world.shops.getShop({ shopId })).shop!;
  expect(before).toMatchObject({ psp: "sandbox", testCredentialNames: [] });
  expect(before.accountAuthorizeTime).toBeUndefined();

  // Sandbox credentials, typed and submitted with the keyboard.
  await page.getByLabel("Sandbox: test payments, no money moves").check();
  const merchantField = page.locator("#cred-sandbox-test-merchantId");
  await merchantField.focus();
  await page.keyboard.type("acme-sandbox-books");
  await page.keyboard.press("Enter");
  await page.getByRole("status").getByText("Activated.").waitFor();
  await browser.screenshot("onboarding-4-activated");
  const authorize = world.genstore.calls.filter((c) => c.path.includes("account_authorize"));
  expect(authorize).toEqual([
    expect.objectContaining({ method: "PUT", path: `/shops/${shopDomain}/api/202412/app/account_authorize`, token: world.app.tokens.get(shopId) }),
  ]);
  expect(await page.content()).not.toContain("acme-sandbox-books");

  // The activated shop takes a card payment; its result reaches Genstore with the shop's token.
  const paymentId = uniqueId("onb");
  const paid = await world.pay(paymentId);
  expect(paid).toMatchObject({ status: 200, body: { error: "" } });
  await world.genstore.waitFor((calls) =>
    calls.some(
      (c) =>
        /\/app\/(payment|pre_authorize)\//.test(c.path) && c.path.endsWith(paymentId) && c.token === world.app.tokens.get(shopId) && c.body.status === true,
    ),
  );

  // The token and credentials exist only sealed: in no document, no log line, no page. (The
  // sandbox's merchant id names its books, which the sandbox PSP keeps as a PSP would; our shop
  // settings hold it sealed.)
  expect(JSON.stringify(await world.server.db.collection("shops").find({}).toArray())).not.toContain("acme-sandbox-books");
  const secrets = [world.app.tokens.get(shopId)!, revoked];
  const stored = await everyDocument(world.server);
  const logs = JSON.stringify(world.server.logs);
  for (const secret of secrets) {
    expect(stored).not.toContain(secret);
    expect(logs).not.toContain(secret);
    for (const html of pages) expect(html).not.toContain(secret);
  }

  // Genstore says the app was uninstalled: token and credentials wiped, requests refused.
  expect((await world.webhook("app/uninstalled", { shopId, domain: shopDomain })).status).toBe(200);
  const shop = (await world.shops.getShop({ shopId })).shop!;
  expect(shop).toMatchObject({ hasGenstoreAccessToken: false, testCredentialNames: [], liveCredentialNames: [] });
  expect(shop.deactivateTime).toBeDefined();
  await waitFor("the shop's requests to be refused", async () => (await world.pay(uniqueId("after"))).status === 403);
  expect(await world.server.db.collection("payments").countDocuments({ genstoreId: paymentId })).toBe(1);

  // The committed screenshots of the authorization page (README): refreshed with UPDATE_SCREENSHOTS=1.
  if (process.env.UPDATE_SCREENSHOTS === "1") {
    const docs = resolve(__dirname, "../../docs/screenshots");
    mkdirSync(docs, { recursive: true });
    copyFileSync(resolve(__dirname, "../../.cache/screenshots/onboarding-2-authorization-form.png"), resolve(docs, "authorization-form.png"));
    copyFileSync(resolve(__dirname, "../../.cache/screenshots/onboarding-4-activated.png"), resolve(docs, "authorization-activated.png"));
  }
}, 60_000);
