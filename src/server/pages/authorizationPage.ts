import type { ShopConfig } from "../../payments/shops.js";
import type { ConnectorModule, CredentialField } from "../../psp/module.js";
import { escapeHtml, htmlPage } from "./html.js";

export interface AuthorizationView {
  shop: ShopConfig;
  modules: readonly ConnectorModule<never>[];
  csrf: string;
  /** The PSP to show as chosen (the merchant's last choice on a refused form). */
  chosen?: string;
  problems?: string[];
  activated?: boolean;
  activationError?: string;
}

const providerLabel: Record<string, string> = { sandbox: "Sandbox: test payments, no money moves", stripe: "Stripe" };
const modeLabel = { test: "Test mode", live: "Live mode" } as const;

/** One credential input: secrets are never shown back, only whether one is stored. */
function field(module: string, mode: "test" | "live", f: CredentialField, stored: boolean): string {
  const id = `cred-${module}-${mode}-${f.name}`;
  const hintId = `${id}-hint`;
  const storedNote = stored ? " A value is saved; leave empty to keep it." : "";
  return `<label for="${id}">${escapeHtml(f.label)}${f.required ? "" : " (optional)"}</label>
<input id="${id}" name="cred.${escapeHtml(module)}.${mode}.${escapeHtml(f.name)}" type="${f.secret ? "password" : "text"}" autocomplete="off" spellcheck="false" aria-describedby="${hintId}"${stored ? ' placeholder="saved"' : ""}>
<p class="hint" id="${hintId}">${escapeHtml((f.hint ?? "") + storedNote)}</p>`;
}

function providerPanel(v: AuthorizationView, m: ConnectorModule<never>, checked: boolean): string {
  const current = v.shop.psp === m.name;
  const modes = (["test", "live"] as const)
    .map((mode) => {
      const stored = current ? (mode === "test" ? v.shop.testCredentials : v.shop.liveCredentials) : {};
      return `<fieldset><legend>${escapeHtml(modeLabel[mode])}</legend>${m.credentialFields.map((f) => field(m.name, mode, f, Boolean(stored[f.name]))).join("")}</fieldset>`;
    })
    .join("");
  return `<input class="psp-choice" type="radio" name="psp" id="psp-${escapeHtml(m.name)}" value="${escapeHtml(m.name)}"${checked ? " checked" : ""}>
<label class="choice" for="psp-${escapeHtml(m.name)}">${escapeHtml(providerLabel[m.name] ?? m.name)}</label>
<div class="psp psp-${escapeHtml(m.name)}">${modes}</div>`;
}

function banner(v: AuthorizationView): string {
  if (v.problems?.length)
    return `<div class="banner bad" role="alert"><strong>Nothing was saved.</strong> Please fix:<ul>${v.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join("")}</ul></div>`;
  if (v.activationError) return `<div class="banner bad" role="alert">${escapeHtml(v.activationError)}</div>`;
  if (v.activated)
    return `<div class="banner ok" role="status"><strong>Activated.</strong> Genstore now offers this payment method at your checkout. You can change the settings below at any time.</div>`;
  if (v.shop.accountAuthorizedAt && !v.shop.deactivatedAt) return `<div class="banner ok" role="status">This payment method is activated for your shop.</div>`;
  return `<div class="banner" role="status">Not activated yet: choose your payment provider, enter its credentials and save.</div>`;
}

/** The merchant's authorization page: choose the PSP, enter test and live credentials, save. */
export function authorizationPage(v: AuthorizationView): string {
  const chosen = v.chosen ?? v.shop.psp;
  const retry = v.activationError
    ? `<form method="post" action="/app/settings/activate"><input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}"><button type="submit">Try the activation again</button></form>`
    : "";
  const body = `<div class="narrow"><h1>Connect your payment provider</h1>${banner(v)}${retry}
<form method="post" action="/app/settings" novalidate>
<input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">
<fieldset><legend>Payment provider</legend>${v.modules.map((m) => providerPanel(v, m, m.name === chosen)).join("")}</fieldset>
<p class="hint">Credentials are checked with the provider before they are saved, stored encrypted, and never shown again.</p>
<button type="submit">Save and activate</button>
</form></div>`;
  return htmlPage({ title: "Payment settings", context: v.shop.shopDomain ?? v.shop.shopId, body });
}
