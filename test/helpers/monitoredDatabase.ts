import { randomBytes } from "node:crypto";
import { MongoClient, type CommandStartedEvent, type Db } from "mongodb";

/**
 * A database of its own on the tests' embedded FerretDB, for one test file, with the commands
 * named in `watched` recorded as they start (`commands`, emptied by the tests as they need).
 * Made in beforeAll, dropped in afterAll.
 */
export function useMonitoredDatabase(prefix: string, watched: readonly string[]): { db: () => Db; commands: CommandStartedEvent[] } {
  let client: MongoClient;
  let db: Db;
  const commands: CommandStartedEvent[] = [];
  beforeAll(async () => {
    client = new MongoClient(process.env.TEST_MONGODB_URI ?? "", { monitorCommands: true });
    client.on("commandStarted", (e) => watched.includes(e.commandName) && commands.push(e));
    await client.connect();
    db = client.db(`${prefix}_${randomBytes(4).toString("hex")}`);
  });
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });
  return { db: () => db, commands };
}
