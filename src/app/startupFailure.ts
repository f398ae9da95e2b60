import { ConfigError } from "../config.js";
import { KeyringError } from "../crypto/keyring.js";
import { DatabaseError } from "../store/database.js";
import { DataDirError } from "../store/dataDir.js";
import { EmbeddedDatabaseError } from "../store/embeddedDatabase.js";

/** A start-up failure whose message already names the setting and the fix. */
export class StartupError extends Error {
  override name = "StartupError";
}

/** Errors whose message is the one line an operator needs. */
const explained = [ConfigError, KeyringError, DatabaseError, EmbeddedDatabaseError, DataDirError, StartupError];

/** Why the port could not be opened, in terms of PORT and HOST. */
export function listenFailure(err: unknown, port: number, host: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "EADDRINUSE":
      return new StartupError(`PORT ${port} is already in use on ${host}: stop the process listening there, or set PORT to a free port`);
    case "EACCES":
      return new StartupError(`PORT ${port} on ${host} needs privileges this user does not have (EACCES): set PORT above 1023 (8080, behind a proxy)`);
    case "EADDRNOTAVAIL":
      return new StartupError(`HOST ${host} is not an address of this machine (EADDRNOTAVAIL): set HOST to one of its addresses, or 0.0.0.0`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new StartupError(`HOST ${host} cannot be resolved (${code}): set HOST to an address of this machine, or 0.0.0.0`);
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}

/** The one line printed when the service cannot start: what is wrong and what to do, no stack. */
export function startupFailureLine(err: unknown): string {
  if (explained.some((type) => err instanceof type)) return (err as Error).message;
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code && e.path)
    return `${e.code} on ${e.path} (${e.syscall ?? "file access"}): check that this user may use that path (LOG_LEVEL=debug prints the stack)`;
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(err);
  return `${text.split("\n")[0]} (LOG_LEVEL=debug prints the stack)`;
}
