import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedCall {
  method: string;
  path: string;
  token: string | undefined;
  body: Record<string, unknown>;
  status: number;
  at: number;
}

/** A route of Genstore's own pages and APIs (OAuth); true when it answered the request. */
export type FakeRoute = (req: IncomingMessage, res: ServerResponse, text: string, base: string) => boolean | Promise<boolean>;

export type Responder = (call: Omit<RecordedCall, "status" | "at">, index: number) => { status: number; headers?: Record<string, string>; body?: string };

/** A local HTTP server standing in for Genstore's Update * result API; it records every call. */
export interface FakeGenstore {
  url: string;
  calls: RecordedCall[];
  /** Calls answered 2xx, in order. */
  acknowledged(): RecordedCall[];
  respondWith(responder: Responder): void;
  waitFor(predicate: (calls: RecordedCall[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function readText(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const c of req as AsyncIterable<Buffer>) text += c.toString("utf8");
  return text;
}

function parsed(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { unparsed: text };
  }
}

/** `routes` answer first (Genstore's OAuth pages, see fakeGenstoreApp.ts); every request is recorded. */
export async function startFakeGenstore(port = 0, routes: FakeRoute[] = []): Promise<FakeGenstore> {
  const calls: RecordedCall[] = [];
  let responder: Responder = () => ({ status: 200, body: "{}" });
  let base = "";
  const server: Server = createServer(async (req, res) => {
    const text = await readText(req);
    const body = parsed(text);
    const call = { method: req.method ?? "", path: req.url ?? "", token: req.headers["x-genstore-access-token"] as string | undefined, body };
    for (const route of routes) {
      if (await route(req, res, text, base)) {
        calls.push({ ...call, status: res.statusCode, at: Date.now() });
        return;
      }
    }
    const answer = responder(call, calls.length);
    calls.push({ ...call, status: answer.status, at: Date.now() });
    res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
    res.end(answer.body ?? "{}");
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  const { port: bound } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${bound}`;
  return {
    url: `http://127.0.0.1:${bound}`,
    calls,
    acknowledged: () => calls.filter((c) => c.status >= 200 && c.status < 300),
    respondWith(r) {
      responder = r;
    },
    async waitFor(predicate, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(calls)) {
        if (Date.now() > until)
          throw new Error(`fake Genstore: condition not met in ${timeoutMs} ms; calls: ${JSON.stringify(calls.map((c) => [c.path, c.status]))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
