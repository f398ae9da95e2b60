import { redirectHostProblem } from "./payments/redirects.js";
import { isHttpUrl } from "./runtime/isHttpUrl.js";

// Readers of single settings from the environment: each refuses a bad value with a message
// naming the variable, so that a start-up fails with one clear line.

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function url(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!isHttpUrl(raw)) throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, "");
}

export function credentials(env: Env, name: string): Record<string, string> {
  const raw = env[name];
  if (raw === undefined || raw === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} must be a JSON object of strings, e.g. {"secretKey":"..."}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== "string")) {
    throw new ConfigError(`${name} must be a JSON object of strings, e.g. {"secretKey":"..."}`);
  }
  return parsed as Record<string, string>;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

export function hostList(env: Env, name: string): string[] {
  const hosts = (env[name] ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean);
  for (const h of hosts) {
    const problem = redirectHostProblem(h);
    if (problem) throw new ConfigError(`${name}: ${problem}`);
  }
  return hosts;
}

/** One of `allowed`, or `fallback` when unset. */
export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(", ")}, got "${raw}"`);
  return raw as T;
}

/**
 * INSTANCE_ID (default host name and pid), SHARED_DATABASE and LEASE_TTL_MS: several instances on
 * one database (README "Scaling out"). EMBEDDED_DATABASE_PORT: a fixed loopback port for the
 * embedded FerretDB, so that other instances can name it in MONGODB_URI across its restarts.
 */
export function scaleOutSettings(env: Env, host: string, pid: number) {
  const instanceId = env.INSTANCE_ID || `${host}-${pid}`.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(instanceId)) throw new ConfigError(`INSTANCE_ID must be 1-64 letters, digits, ".", "_" or "-", got "${instanceId}"`);
  return {
    instanceId,
    sharedDatabase: bool(env, "SHARED_DATABASE", false),
    leaseTtlMs: integer(env, "LEASE_TTL_MS", 10_000, 500, 600_000),
    embeddedDatabasePort: integer(env, "EMBEDDED_DATABASE_PORT", 0, 0, 65535),
  };
}
