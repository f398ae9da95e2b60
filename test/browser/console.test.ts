import { copyFileSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Page } from "playwright-core";
import { hasParkedCallback } from "../../src/store/storedEntries";
import { launchBrowser, screenshotDir, type TestBrowser } from "../helpers/browser";
import { startFakeGenstore, type FakeGenstore } from "../helpers/fakeGenstore";
import { cardBody, genstoreClient, uniqueId } from "../helpers/payments";
import { startTestServer, testAdminToken, type TestServer } from "../helpers/testServer";
import { waitFor } from "../helpers/waitFor";

// An operator's round in a real Chromium: sign in, find a declined payment by filter, open it,
// redeliver its parked callback and see Genstore take it, create a shop, look at the charts.
let server: TestServer;
let genstore: FakeGenstore;
let browser: TestBrowser;
const declined = uniqueId("declined");
const approved = uniqueId("approved");
const secrets = ["4000000000000002", "4242424242424242", "sk_test_consoleSECRET123", testAdminToken, "token-test-shop"];

beforeAll(async () => {
  genstore = await startFakeGenstore();
  // Genstore refuses the declined payment's result at first: the callback is parked.
  genstore.respondWith((c) => (c.path.includes(declined) ? { status: 400, body: '{"error":"bad request"}' } : { status: 200 }));
  server = await startTestServer({ callbackBaseUrl: genstore.url, callbacks: { pollMs: 100 } });
  const client = genstoreClient(server);
  expect((await client.pay(cardBody(server, approved, { manualCapture: false }))).status).toBe(200);
  expect((await client.pay(cardBody(server, declined, { card: "4000000000000002" }))).status).toBe(200);
  await waitFor("the declined payment's callback to be parked", async () => (await server.db.collection("payments").countDocuments(hasParkedCallback)) === 1);
  browser = await launchBrowser({ width: 1000, height: 720 });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await genstore?.stop();
});

/** Every page the console shows is searched for secrets before the test goes on. */
async function clean(page: Page): Promise<void> {
  const html = await page.content();
  for (const s of secrets) expect(html).not.toContain(s);
}

test("sign in, filter, open a payment, redeliver a parked callback, create a shop, charts", async () => {
  const { page } = browser;
  const first = await page.goto(`${server.url}/console`);
  expect(first?.status()).toBe(401);
  await page.getByLabel("Operator token (ADMIN_TOKEN)").fill(testAdminToken);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Payments" }).waitFor();
  await page.getByRole("link", { name: approved }).waitFor();
  await clean(page);

  // Find the declined payment by filter, and open it.
  await page.getByLabel("State").selectOption("declined");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/state=declined/);
  // The filtered list replaces the first one: the approved payment leaves, the declined one stays.
  await page.getByRole("link", { name: approved }).waitFor({ state: "detached" });
  await page.getByRole("link", { name: declined }).waitFor();
  await page.getByText("1 parked, 0 pending").waitFor();
  await browser.screenshot("console-1-payments-declined");
  await clean(page);
  await page.getByRole("link", { name: declined }).click();
  await page.getByRole("heading", { name: `Payment ${declined}` }).waitFor();
  await page.getByText("Parked: HTTP 400").waitFor();
  await page.getByRole("cell", { name: "400", exact: true }).first().waitFor();
  await browser.screenshot("console-2-payment");
  await clean(page);

  // Genstore is fixed; the operator redelivers from the parked queue.
  genstore.respondWith(() => ({ status: 200 }));
  await page.getByRole("link", { name: "Parked callbacks" }).click();
  await page.getByRole("button", { name: `Redeliver payment:${declined}` }).click();
  await page.getByRole("status").getByText("1 callback(s) back in the queue.").waitFor();
  await genstore.waitFor((calls) => calls.some((c) => c.path.endsWith(`/payment/${declined}`) && c.status === 200));
  await page.goto(`${server.url}/console#/payment/test-shop/${declined}`);
  await page.getByRole("heading", { name: `payment:${declined}: delivered` }).waitFor();
  await clean(page);

  // A new shop: its secret key is sent once and never shown.
  await page.getByRole("link", { name: "Shops" }).click();
  await page.getByRole("link", { name: "New shop" }).click();
  await page.getByLabel("Shop id").fill("console-shop");
  await page.getByLabel("Payment provider").selectOption("stripe");
  await page.locator("#s-test-secretKey").fill("sk_test_consoleSECRET123");
  await page.getByRole("button", { name: "Create shop" }).click();
  await page.getByRole("cell", { name: "console-shop", exact: true }).waitFor();
  await page
    .getByRole("row", { name: /console-shop/ })
    .getByText("secretKey")
    .waitFor();
  await clean(page);
  await page.getByRole("link", { name: "Edit console-shop" }).click();
  await page.getByText("Secret key (set; empty keeps it)").first().waitFor();
  await clean(page);

  await page.getByRole("link", { name: "Charts" }).click();
  await page.getByRole("img", { name: "Payments per minute by outcome" }).waitFor();
  await page.getByText("declined 1").waitFor();
  await browser.screenshot("console-3-charts");
  await clean(page);

  if (process.env.UPDATE_SCREENSHOTS === "1") {
    const docs = resolve(__dirname, "../../docs/screenshots");
    mkdirSync(docs, { recursive: true });
    copyFileSync(resolve(screenshotDir, "console-1-payments-declined.png"), resolve(docs, "console-payments.png"));
    copyFileSync(resolve(screenshotDir, "console-2-payment.png"), resolve(docs, "console-payment.png"));
  }
}, 60_000);
