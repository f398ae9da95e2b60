import { ConfigError, url, type Env } from "./configValues.js";

/** Merchant onboarding through Genstore's OAuth (src/onboarding/genstoreApp.ts holds the protocol). */
export interface OnboardingSettings {
  /** The app's Client ID from Genstore's Developer Center. */
  clientId: string;
  /** The shop's Genstore base URL; "{shop}" is replaced by the shop's domain. */
  shopUrlTemplate: string;
  /** Domains a shop may have ("*.genmystore.com"): the OAuth code and client secret go nowhere else. */
  shopDomains: string[];
  /** Access scopes asked for at install. */
  scopes: string[];
}

const domainPattern = /^(\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+$/;

/** GENSTORE_CLIENT_ID switches onboarding on; it needs the client secret and, in production, PUBLIC_URL. */
export function onboardingSettings(env: Env, production: boolean): OnboardingSettings | undefined {
  const clientId = env.GENSTORE_CLIENT_ID?.trim();
  if (!clientId) return undefined;
  if (!/^[\w.-]{1,200}$/.test(clientId)) throw new ConfigError("GENSTORE_CLIENT_ID must be 1-200 letters, digits, '.', '_' or '-'");
  if (!env.GENSTORE_CLIENT_SECRET)
    throw new ConfigError("GENSTORE_CLIENT_ID needs GENSTORE_CLIENT_SECRET: the OAuth code exchange and webhook signatures use it");
  if (production && !env.PUBLIC_URL)
    throw new ConfigError("GENSTORE_CLIENT_ID needs PUBLIC_URL in production: it is the OAuth redirect URL registered in Genstore");
  const template = env.GENSTORE_SHOP_URL || "https://{shop}";
  if (!template.includes("{shop}") || !url({ T: template.replace("{shop}", "shop.example") }, "T"))
    throw new ConfigError(`GENSTORE_SHOP_URL must be an http(s) URL containing {shop}, got "${template}"`);
  if (production && !template.startsWith("https://")) throw new ConfigError("GENSTORE_SHOP_URL must be https in production");
  const shopDomains = (env.GENSTORE_SHOP_DOMAINS || "*.genmystore.com,*.genmystore.ai")
    .split(",")
    .map((d) => d.trim().toLowerCase())
    .filter(Boolean);
  for (const d of shopDomains) if (!domainPattern.test(d)) throw new ConfigError(`GENSTORE_SHOP_DOMAINS: "${d}" is not a domain or *.domain`);
  const scopes = (env.GENSTORE_SCOPES || "read_payment,write_payment")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (scopes.some((s) => !/^[\w/.:-]{1,100}$/.test(s))) throw new ConfigError("GENSTORE_SCOPES must be a comma-separated list of scope names");
  return { clientId, shopUrlTemplate: template.replace(/\/+$/, ""), shopDomains, scopes };
}
