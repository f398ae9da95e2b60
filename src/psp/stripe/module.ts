import { isHttpUrl } from "../../runtime/isHttpUrl.js";
import { integerSetting, type ConnectorModule } from "../module.js";
import { createStripeConnector, stripeCredentialProblems, type StripeOptions } from "./connector.js";

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
  create: (settings) => ({ connector: createStripeConnector(settings) }),
};
