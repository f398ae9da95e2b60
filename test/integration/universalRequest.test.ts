import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, constants, createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { universalRequestOf } from "../../src/server/universalRequest";

// The signal Connect's handlers get: it fires when the call ends, with a reason (no DOMException
// per call), and a client's hang-up or reset keeps its meaning.
type Seen = { signal: AbortSignal; url: string; header: Headers };

async function listen(server: ReturnType<typeof createServer> | ReturnType<typeof createH2Server>) {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}
const aborted = (s: Seen) =>
  new Promise<unknown>((r) => (s.signal.aborted ? r(s.signal.reason) : s.signal.addEventListener("abort", () => r(s.signal.reason))));

test("HTTP/1.1: the call's signal fires when the response closes, with a ConnectError; a hang-up is Aborted", async () => {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = universalRequestOf(req, res, createContextValues());
    seen.push({ signal: u.signal, url: u.url, header: u.header });
    if (req.url === "/hang") return; // no answer: the client gives up
    res.end("ok");
  });
  const port = await listen(server);
  try {
    await fetch(`http://127.0.0.1:${port}/done?x=1`, { headers: { "x-two": "a" } });
    const reason = await aborted(seen[0]!);
    expect(reason).toBeInstanceOf(ConnectError);
    expect((reason as ConnectError).code).toBe(Code.Canceled);
    expect(seen[0]!.url).toBe(`http://127.0.0.1:${port}/done?x=1`);
    expect(seen[0]!.header.get("x-two")).toBe("a");

    const req = request({ port, host: "127.0.0.1", path: "/hang", method: "POST" });
    req.on("error", () => {});
    req.write("partial");
    while (seen.length < 2) await new Promise((r) => setImmediate(r));
    req.destroy();
    const hangUp = (await aborted(seen[1]!)) as ConnectError;
    expect(hangUp).toBeInstanceOf(ConnectError);
    expect(hangUp.code).toBe(Code.Aborted);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("HTTP/2: an ended stream gives the shared reason; a client's CANCEL reset gives Canceled with its code", async () => {
  const seen: Seen[] = [];
  const server = createH2Server((req: Http2ServerRequest, res: Http2ServerResponse) => {
    const u = universalRequestOf(req, res, createContextValues());
    seen.push({ signal: u.signal, url: u.url, header: u.header });
    if (req.url !== "/cancel") res.end("ok");
  });
  const port = await listen(server);
  const client = connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((r) => client.request({ ":path": "/done" }).on("end", r).resume().end());
    const done = (await aborted(seen[0]!)) as ConnectError;
    expect(done.code).toBe(Code.Canceled);
    expect(done.rawMessage).toBe("the request ended");

    const stream = client.request({ ":path": "/cancel", ":method": "POST" });
    stream.on("error", () => {});
    stream.write("x");
    while (seen.length < 2) await new Promise((r) => setImmediate(r));
    stream.close(constants.NGHTTP2_CANCEL);
    const cancelled = (await aborted(seen[1]!)) as ConnectError;
    expect(cancelled.code).toBe(Code.Canceled);
    expect(cancelled.rawMessage).toBe("http/2 stream closed with error code 0x8");
  } finally {
    client.close();
    server.close();
  }
});
