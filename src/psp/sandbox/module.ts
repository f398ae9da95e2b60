import { randomBytes } from "node:crypto";
import { integerSetting, type ConnectorModule } from "../module.js";
import { booksSetting, chooseSandboxLedger, type BooksSetting } from "./booksChoice.js";
import { createSandboxConnector } from "./connector.js";
import { createSandboxPages } from "./pages.js";
import { createSandboxWebhookSender } from "./webhooks.js";

export interface SandboxSettings {
  /** Added to every call, to make benchmarks and timeouts realistic. */
  latencyMs: number;
  /** How long the asynchronous card (…0259) stays pending. */
  asyncDelayMs: number;
  /** Signs its webhooks; a secret per process when unset. */
  webhookSecret?: string | undefined;
  /**
   * Where its books are kept: "file" (SQLite under DATA_DIR), "database" (`<database>_sandbox`),
   * or "auto": a file beside the embedded database, the database otherwise.
   */
  books?: BooksSetting | undefined;
}

/** The built-in PSP that moves no money: test cards, hosted pages, webhooks. */
export const sandboxModule: ConnectorModule<SandboxSettings> = {
  name: "sandbox",
  movesMoney: false,
  settings: (env) => ({
    latencyMs: integerSetting(env, "SANDBOX_LATENCY_MS", 0, 0, 60_000),
    asyncDelayMs: integerSetting(env, "SANDBOX_ASYNC_DELAY_MS", 5000, 0, 3_600_000),
    webhookSecret: env.SANDBOX_WEBHOOK_SECRET || undefined,
    books: booksSetting(env),
  }),
  // It takes any credentials; merchantId names the books they are kept in.
  credentialProblems: () => [],
  credentialFields: [{ name: "merchantId", label: "Sandbox merchant id", secret: false, required: false, hint: "Names the sandbox books; any value." }],
  verifyCredentials: () => Promise.resolve([]),
  create(settings, host) {
    const { ledger, close } = chooseSandboxLedger(settings?.books ?? "auto", host);
    const webhookSecret = settings?.webhookSecret ?? randomBytes(32).toString("hex");
    const webhooks = createSandboxWebhookSender(webhookSecret, () => `${host.publicUrl()}/psp/sandbox/webhooks`, host.log);
    const connector = createSandboxConnector({
      ledger,
      publicUrl: host.publicUrl,
      latencyMs: settings?.latencyMs ?? 0,
      asyncDelayMs: settings?.asyncDelayMs ?? 5000,
      webhookSecret,
      webhooks,
    });
    const pages = createSandboxPages(ledger, (entry) => webhooks.chargeUpdated(entry));
    return {
      connector,
      pages: [{ pattern: /^\/sandbox\/(3ds|checkout)\/[^/]+$/, methods: ["GET", "POST"], handle: pages }],
      async stop() {
        connector.stop();
        await webhooks.flush();
        close();
      },
    };
  },
};
