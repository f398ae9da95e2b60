import { isHttpUrl } from "../../runtime/isHttpUrl.js";
import { integerSetting, type ConnectorModule } from "../module.js";
import { createStripeConnector, stripeCredentialProblems, type StripeOptions } from "./connector.js";
import { verifyStripeCredentials } from "./verifyCredentials.js";

function apiBase(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  if (!isHttpUrl(raw)) throw new Error(`STRIPE_API_BASE must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, "");
}

/** Stripe through its official SDK. */
export const stripeModule: ConnectorModule<StripeOptions> = {
  name: "stripe",
  movesMoney: true,
  settings: (env) => ({
    apiBase: apiBase(env.STRIPE_API_BASE),
    timeoutMs: integerSetting(env, "STRIPE_TIMEOUT_MS", 30_000, 1000, 120_000),
    maxNetworkRetries: integerSetting(env, "STRIPE_MAX_NETWORK_RETRIES", 2, 0, 10),
  }),
  credentialProblems: stripeCredentialProblems,
  credentialFields: [
    { name: "secretKey", label: "Secret key", secret: true, required: true, hint: "sk_… or a restricted rk_… key that can read the balance." },
    { name: "webhookSecret", label: "Webhook signing secret", secret: true, required: false, hint: "whsec_… of the endpoint you register at Stripe." },
  ],
  verifyCredentials: verifyStripeCredentials,
  create: (settings) => ({ connector: createStripeConnector(settings) }),
};
