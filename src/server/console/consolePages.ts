import type { ConnectorModule } from "../../psp/module.js";
import { escapeHtml, htmlPage } from "../pages/html.js";

/** The login form (answered with 401 wherever a console page is asked for without a session). */
export function loginPage(csrf: string, problem?: string): string {
  const body = `<div class="narrow"><h1>Operator console</h1>
${problem ? `<div class="banner bad" role="alert">${escapeHtml(problem)}</div>` : ""}
<form method="post" action="/console/login">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<label for="token">Operator token (ADMIN_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<p class="hint">Exchanged for a session cookie of 8 hours; the token is not kept in the browser.</p>
<button type="submit">Sign in</button>
</form></div>`;
  return htmlPage({ title: "Sign in: operator console", context: "Operator console", body });
}

/** The console's shell: its views are drawn by /assets/console.js from OperationsService and ShopService. */
export function consoleShell(csrf: string, modules: readonly ConnectorModule<never>[]): string {
  const psps = JSON.stringify(
    modules.map((m) => ({ name: m.name, fields: m.credentialFields.map((f) => ({ name: f.name, label: f.label, secret: f.secret })) })),
  );
  const nav = `<nav aria-label="Console">
<a href="#/payments">Payments</a><a href="#/callbacks">Parked callbacks</a><a href="#/shops">Shops</a><a href="#/charts">Charts</a>
<form method="post" action="/console/logout" class="inline"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><button type="submit" class="secondary">Sign out</button></form></nav>`;
  const body = `<div id="app" data-csrf="${escapeHtml(csrf)}" data-psps="${escapeHtml(psps)}" aria-live="polite"><p>Loading…</p></div>`;
  return htmlPage({ title: "Operator console", context: "Operator console", body, nav, scripts: ["console.js"] });
}
