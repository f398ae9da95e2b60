import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Db } from "mongodb";
import type { Connector } from "./connector.js";

/** A page a connector serves itself (the sandbox's 3-D Secure and checkout pages). */
export interface ConnectorPage {
  /** Matched against the path. */
  pattern: RegExp;
  methods: readonly string[];
  /** Answers the request; false when the path names nothing of the connector's (a 404). */
  handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): Promise<boolean>;
}

/** What the service lends a connector. */
export interface ConnectorHost {
  /**
   * A database of the connector's own, beside the service's (`<database>_<connector>`): a PSP
   * that keeps books (the sandbox) keeps them apart, so that on the embedded FerretDB they are
   * another SQLite file with its own write lock, and cost what a real PSP's would: nothing of ours.
   */
  db: Db;
  /**
   * A directory of the connector's own on this machine, given only to an instance whose data is
   * its own (no SHARED_DATABASE); `embeddedDatabase` says whether that data lives there too.
   */
  files?: { dir: string; embeddedDatabase: boolean } | undefined;
  /** Base URL buyers reach this service at. */
  publicUrl: () => string;
  log: (entry: Record<string, unknown>) => void;
}

export interface ConnectorInstance {
  connector: Connector;
  pages?: ConnectorPage[];
  /** Stops timers and flushes what is under way. */
  stop?(): Promise<void> | void;
}

type Env = Record<string, string | undefined>;

/** One credential value of a PSP, as a form asks for it. */
export interface CredentialField {
  name: string;
  label: string;
  /** A secret: never shown back, typed into a password field. */
  secret: boolean;
  /** Needed for the mode to work (a mode left entirely empty is simply not set up). */
  required: boolean;
  hint?: string;
}

/**
 * Everything the service needs to know of one PSP, in the PSP's own folder: its name, its
 * settings, its credential checks and how to make it. Registered in modules.ts, one line each.
 */
export interface ConnectorModule<Settings = unknown> {
  readonly name: string;
  /** false for a PSP that only pretends (the sandbox): production never sends it a live payment. */
  readonly movesMoney: boolean;
  /** Its deployment settings from the environment; throws an Error naming a bad variable. */
  settings(env: Env): Settings;
  /** What is wrong with a shop's credentials for one mode (empty: nothing); never echoes a secret. */
  credentialProblems(mode: "test" | "live", credentials: Readonly<Record<string, string>>): string[];
  /** The credential values a merchant enters for one mode, in form order. */
  readonly credentialFields: readonly CredentialField[];
  /**
   * Asks the PSP whether one mode's credentials work, with a call that changes nothing (Stripe:
   * read the balance). Returns what is wrong, in words for the merchant; never echoes a secret.
   */
  verifyCredentials(settings: Settings | undefined, mode: "test" | "live", credentials: Readonly<Record<string, string>>): Promise<string[]>;
  create(settings: Settings | undefined, host: ConnectorHost): ConnectorInstance;
}

/** Reads a whole number setting, for connector modules. */
export function integerSetting(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new Error(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}
