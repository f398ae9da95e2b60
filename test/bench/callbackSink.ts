import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface CallbackSink {
  url: string;
  /** Callbacks answered so far. */
  received(): number;
  stop(): Promise<void>;
}

/**
 * Genstore's Update * result API for the bench: every callback is read to its end, counted and
 * answered 200. Genstore takes callbacks on its own machines; here the receiver shares the two
 * cores with the service it measures, so it does the least a receiver can. The tests' fake Genstore
 * parses and keeps every call, which over a run's 100,000 callbacks is a growing heap and CPU taken
 * from the service's windows alone (the floor sends none).
 */
export async function startCallbackSink(): Promise<CallbackSink> {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.once("end", () => {
      received++;
      res.writeHead(200, { "content-type": "application/json", "content-length": "2" });
      res.end("{}");
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received: () => received,
    stop: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
