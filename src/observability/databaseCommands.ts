import { BSON, type MongoClient } from "mongodb";
import { Counter, type Registry } from "prom-client";

/** What reaches the database, by database and command: how many and how many bytes sent. */
export function observeDatabaseCommands(client: MongoClient, registry: Registry): void {
  const commands = new Counter({
    name: "db_commands_total",
    help: "Commands sent to the database, by database and command",
    labelNames: ["database", "command"],
    registers: [registry],
  });
  const bytes = new Counter({
    name: "db_command_bytes_total",
    help: "Bytes of the commands sent to the database (documents included), by database and command",
    labelNames: ["database", "command"],
    registers: [registry],
  });
  client.on("commandStarted", (e) => {
    // Handshakes and heartbeats are the driver's own, not the work's.
    if (e.commandName === "hello" || e.commandName === "isMaster" || e.commandName === "endSessions") return;
    const labels = { database: e.databaseName, command: e.commandName };
    commands.inc(labels);
    bytes.inc(labels, BSON.calculateObjectSize(e.command));
  });
}
