import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { deliverCallback } from "../../src/callbacks/deliver";
import { createHttpPut } from "../../src/callbacks/httpPut";

// The callback client against a real local server: what Genstore's answers come to.
let server: Server;
let base = "";
let handle: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_q, res) => res.end();
const put = createHttpPut();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => handle(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test("a PUT with the token and the JSON body; 2xx is delivered", async () => {
  let seen: { method?: string; token?: string; type?: string; body?: string } = {};
  handle = (req, res, body) => {
    seen = { method: req.method, token: req.headers["x-genstore-access-token"] as string, type: req.headers["content-type"], body };
    res.writeHead(204).end();
  };
  expect(await deliverCallback(`${base}/cb/1`, { paymentId: "P1", status: true }, "tok", 2000, put)).toMatchObject({ kind: "delivered", httpStatus: 204 });
  expect(seen).toEqual({ method: "PUT", token: "tok", type: "application/json", body: '{"paymentId":"P1","status":true}' });
});

test("429 with Retry-After is retried after it; 400 is refused; a long answer is kept to 300 characters; a redirect is not followed", async () => {
  handle = (_q, res) => res.writeHead(429, { "retry-after": "3" }).end('{"error":"slow down"}');
  expect(await deliverCallback(`${base}/cb`, {}, "t", 2000, put)).toMatchObject({
    kind: "retry",
    httpStatus: 429,
    retryAfterMs: 3000,
    error: 'HTTP 429: {"error":"slow down"}',
  });
  handle = (_q, res) => res.writeHead(400).end("x".repeat(100_000));
  const refused = await deliverCallback(`${base}/cb`, {}, "t", 2000, put);
  expect(refused).toMatchObject({ kind: "refused", httpStatus: 400 });
  expect(refused.kind === "refused" && refused.error).toBe(`HTTP 400: ${"x".repeat(300)}`);
  handle = (_q, res) => res.writeHead(302, { location: `${base}/elsewhere` }).end();
  expect(await deliverCallback(`${base}/cb`, {}, "t", 2000, put)).toMatchObject({ kind: "refused", httpStatus: 302 });
});

test("no answer within the timeout, and a refused connection, are retried", async () => {
  handle = () => {}; // never answers
  const started = Date.now();
  expect(await deliverCallback(`${base}/cb`, {}, "t", 300, put)).toMatchObject({ kind: "retry", error: "no answer within 300 ms" });
  expect(Date.now() - started).toBeLessThan(2000);
  const gone = await deliverCallback("http://127.0.0.1:9/cb", {}, "t", 2000, put);
  expect(gone).toMatchObject({ kind: "retry" });
  expect(gone.kind === "retry" && gone.error).toMatch(/^network error: connect ECONNREFUSED/);
});
