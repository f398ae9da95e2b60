import { BSON, type MongoClient } from "mongodb";
import { Counter, type Registry } from "prom-client";

/** What reaches the database, by database, collection and command: how many and how many bytes sent. */
export function observeDatabaseCommands(client: MongoClient, registry: Registry): void {
  const commands = new Counter({
    name: "db_commands_total",
    help: "Commands sent to the database, by database, collection and command",
    labelNames: ["database", "collection", "command"],
    registers: [registry],
  });
  const bytes = new Counter({
    name: "db_command_bytes_total",
    help: "Bytes of the commands sent to the database (documents included), by database, collection and command",
    labelNames: ["database", "collection", "command"],
    registers: [registry],
  });
  const documents = new Counter({
    name: "db_command_documents_total",
    help: "Documents the write commands sent to the database insert, and their update and delete statements, by database, collection and command",
    labelNames: ["database", "collection", "command"],
    registers: [registry],
  });
  client.on("commandStarted", (e) => {
    // Handshakes and heartbeats are the driver's own, not the work's.
    if (e.commandName === "hello" || e.commandName === "isMaster" || e.commandName === "endSessions") return;
    const labels = { database: e.databaseName, collection: collectionOf(e.command, e.commandName), command: e.commandName };
    commands.inc(labels);
    bytes.inc(labels, BSON.calculateObjectSize(e.command));
    const written = documentsWritten(e.command);
    if (written) documents.inc(labels, written);
  });
}

/** The collection a command is about ("" for those about none, such as ping). */
export function collectionOf(command: Record<string, unknown>, name: string): string {
  const named = name === "getMore" ? command.collection : command[name];
  return typeof named === "string" ? named : "";
}

/**
 * How many documents one write command names: its inserted documents, or its update or delete
 * statements (each of ours names one document by _id). One `update` with a statement per payment
 * is one command, but the embedded FerretDB rewrites each document in a transaction of its own.
 */
export function documentsWritten(command: Record<string, unknown>): number {
  const list = command.documents ?? command.updates ?? command.deletes;
  if (Array.isArray(list)) return list.length;
  return command.findAndModify !== undefined ? 1 : 0;
}
