import { invalidArgument } from "./errors.js";

/** Whether `host` is one of `allowed`: "shop.example" exactly, "*.shop.example" any subdomain. */
function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase();
  return allowed.some((a) => {
    const rule = a.toLowerCase();
    return rule.startsWith("*.") ? h.endsWith(rule.slice(1)) && h.length > rule.length - 1 : h === rule;
  });
}

/**
 * Where the buyer may be sent back to (returnUrl, cancelUrl): an http(s) URL on a host the shop
 * allows; https only in production. The service only ever redirects to such a URL, never
 * fetches it. Returns what is wrong, or undefined.
 */
export function redirectProblem(value: string, allowedHosts: readonly string[] | undefined, production: boolean): string | undefined {
  // The URL parser would drop a line break or tab silently: say so instead of redirecting elsewhere.
  if (/[\u0000-\u001f\u007f]/.test(value)) return "must not contain control characters (line breaks, tabs)";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an http(s) URL";
  }
  if (url.protocol !== "https:" && (production || url.protocol !== "http:")) return production ? "must be an https URL" : "must be an http(s) URL";
  if (url.username || url.password) return "must not carry credentials";
  if (allowedHosts && allowedHosts.length > 0 && !hostAllowed(url.hostname, allowedHosts)) return `has host ${url.hostname}, which this shop does not allow`;
  return undefined;
}

/**
 * The URL, checked and in the form a Location header can carry (other than ASCII
 * percent-encoded, the host in punycode: `href`); a 400 naming the field otherwise.
 */
export function checkedRedirect(value: string, field: string, allowedHosts: readonly string[] | undefined, production: boolean): string {
  const problem = redirectProblem(value, allowedHosts, production);
  if (problem) throw invalidArgument(`${field} ${problem}`);
  return new URL(value).href;
}

/** What an operator may put in a shop's list: a host name, or "*." and a host name. */
export function redirectHostProblem(rule: string): string | undefined {
  return /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(rule) && rule.length <= 253
    ? undefined
    : `"${rule}" is not a host name or *.host`;
}
