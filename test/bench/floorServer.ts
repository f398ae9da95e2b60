// The floor: the least any service must do for one card payment, on the same database:
// read the body, decrypt one payload, one insert, one update, answer. Nothing else.
import { createServer } from "node:http";
import { BSON, MongoClient } from "mongodb";
import { decryptCardPacket } from "../../src/crypto/genstoreV1";
import { parsePrivateKey } from "../../src/crypto/keyring";
import { collectionOf, documentsWritten } from "../../src/observability/databaseCommands";

async function main() {
  const key = parsePrivateKey(process.env.FLOOR_PRIVATE_KEY ?? "", "FLOOR_PRIVATE_KEY");
  const client = new MongoClient(process.env.MONGODB_URI ?? "", { monitorCommands: true, maxPoolSize: Number(process.env.FLOOR_POOL_SIZE ?? 100) });
  // What it sends the database, by command, as the service's db_commands_total counts it.
  const sent: Record<string, { n: number; bytes: number; documents: number }> = {};
  client.on("commandStarted", (e) => {
    if (e.commandName === "hello" || e.commandName === "isMaster" || e.commandName === "endSessions") return;
    const c = (sent[`${e.databaseName}/${collectionOf(e.command, e.commandName)}/${e.commandName}`] ??= { n: 0, bytes: 0, documents: 0 });
    c.n++;
    c.bytes += BSON.calculateObjectSize(e.command);
    c.documents += documentsWritten(e.command);
  });
  await client.connect();
  const payments = client.db(process.env.MONGODB_DATABASE ?? "floor").collection<{ _id: string; state: string; amount: string }>("payments");
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(sent));
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        const plain = decryptCardPacket([key.privateKey], body.paymentMethod.data);
        plain.fill(0);
        await payments.insertOne({ _id: body.paymentId, state: "received", amount: body.amount });
        await payments.updateOne({ _id: body.paymentId }, { $set: { state: "captured" } });
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      } catch (err) {
        res.writeHead(500);
        res.end(JSON.stringify({ error: String(err) }));
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
  });
  process.on("SIGTERM", () => server.close(() => client.close().then(() => process.exit(0))));
}
void main();
