import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it when missing). */
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

// Without the background-networking switches Chromium keeps dialling out, which the closed network refuses.
const args = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const screenshotDir = resolve(__dirname, "../../.cache/screenshots");

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** A PNG of the page under .cache/screenshots/. */
  screenshot(name: string, page?: Page): Promise<string>;
  close(): Promise<void>;
}

/** A real headless Chromium with a fresh profile, at a phone's width unless told otherwise. */
export async function launchBrowser(viewport = { width: 390, height: 844 }): Promise<TestBrowser> {
  if (!existsSync(executablePath))
    throw new Error(`no Chromium at ${executablePath}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH`);
  const profile = mkdtempSync(join(tmpdir(), "genstore-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  mkdirSync(screenshotDir, { recursive: true });
  return {
    context,
    page,
    async screenshot(name, p = page) {
      const path = join(screenshotDir, `${name}.png`);
      await p.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
