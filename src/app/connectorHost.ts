import { join } from "node:path";
import type { Db } from "mongodb";
import type { ConnectorHost } from "../psp/module.js";

/** What the composition root knows that a connector may be lent (createApp's options). */
export interface ConnectorHostOptions {
  db: Db;
  connectorFiles?: { dir: string; embeddedDatabase: boolean } | undefined;
  publicUrl: ConnectorHost["publicUrl"];
  log: ConnectorHost["log"];
}

/** The connector's own database beside ours (see ConnectorHost.db). */
export const connectorDatabase = (db: Db, connector: string): Db => db.client.db(`${db.databaseName}_${connector}`);

/** What the service lends the connector of this name. */
export function connectorHost(name: string, opts: ConnectorHostOptions): ConnectorHost {
  const files = opts.connectorFiles;
  return {
    db: connectorDatabase(opts.db, name),
    files: files && { dir: join(files.dir, name), embeddedDatabase: files.embeddedDatabase },
    publicUrl: opts.publicUrl,
    log: opts.log,
  };
}
