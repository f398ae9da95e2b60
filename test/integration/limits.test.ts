import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { connect as tcpConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { createGrpcJsClient, grpcUnary } from "../helpers/grpcJsClient";
import { freePort, startServiceProcess } from "../helpers/serviceProcess";
import { countAllDocuments, startTestServer, type TestServer } from "../helpers/testServer";

// Bounded inputs and connections: what an attacker sends costs little memory and no socket for free.
const rssMb = () => process.memoryUsage().rss / 2 ** 20;
const path = "/genstore.payment.v1.PaymentService/GetPayment";

/** A gzip body of ~64 KB that inflates to ~60 MB of one JSON string (or protobuf field). */
const bombPayload = Buffer.alloc(60 * 2 ** 20, "a");

describe("request bodies on Connect and gRPC", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ background: false });
  });
  afterAll(async () => {
    await server.stop();
  });

  test("a Connect gzip bomb is refused after MAX_BODY_BYTES of inflated bytes, and memory stays flat", async () => {
    const json = Buffer.concat([Buffer.from('{"paymentId":"'), bombPayload, Buffer.from('"}')]);
    const bomb = gzipSync(json, { level: 9 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const before = rssMb();
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-encoding": "gzip" },
        body: bomb,
      });
      expect(res.status).toBe(429);
      expect(await res.json()).toEqual({ code: "resource_exhausted", message: "message is larger than configured readMaxBytes 65536 after decompression" });
    }
    const grew = rssMb() - before;
    process.stdout.write(`[limits] 5 Connect gzip bombs (${bomb.length} bytes inflating to ${json.length}): RSS +${grew.toFixed(1)} MB\n`);
    expect(grew).toBeLessThan(30);
  });

  test("a gRPC gzip bomb gets RESOURCE_EXHAUSTED, and memory stays flat", async () => {
    // GetPaymentRequest field 1 (payment_id), length-delimited, then the whole message gzipped in one frame.
    const varint = (n: number) => {
      const out: number[] = [];
      for (; n > 127; n = Math.floor(n / 128)) out.push((n % 128) | 128);
      out.push(n);
      return Buffer.from(out);
    };
    const message = gzipSync(Buffer.concat([Buffer.from([0x0a]), varint(bombPayload.length), bombPayload]), { level: 9 });
    const frame = Buffer.concat([Buffer.from([1]), Buffer.from([0, 0, 0, 0]), message]);
    frame.writeUInt32BE(message.length, 1);
    const before = rssMb();
    const session = http2Connect(server.url);
    try {
      for (let i = 0; i < 5; i++) {
        const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
          const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", "grpc-encoding": "gzip", te: "trailers" });
          let headers: Record<string, unknown> = {};
          stream.on("response", (h) => (headers = h));
          stream.on("trailers", (t) => resolve({ ...headers, ...t }));
          stream.on("end", () => resolve(headers));
          stream.on("error", reject);
          stream.resume();
          stream.end(frame);
        });
        expect(trailers).toMatchObject({ "grpc-status": "8" });
        expect(decodeURIComponent(String(trailers["grpc-message"]))).toMatch(/larger than configured readMaxBytes 65536/);
      }
    } finally {
      session.close();
    }
    const grew = rssMb() - before;
    process.stdout.write(`[limits] 5 gRPC gzip bombs: RSS +${grew.toFixed(1)} MB\n`);
    expect(grew).toBeLessThan(30);
  });

  test("made-up HTTP/2 methods and RPC names add no metric series", async () => {
    const series = async () => (await (await fetch(`${server.url}/metrics`)).text()).split("\n").filter((l) => l.startsWith("http_request")).length;
    const send = (session: ReturnType<typeof http2Connect>, method: string, path: string) =>
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":method": method, ":path": path, "content-type": "application/json" });
        stream.on("response", (h) => resolve(Number(h[":status"])));
        stream.on("error", reject);
        stream.resume();
        stream.end("{}");
      });
    const session = http2Connect(server.url);
    try {
      // Once each first (the scrape too), so that the series they may make exist before counting.
      expect(await send(session, "BREW0", "/healthz")).toBe(405);
      expect(await send(session, "POST", "/grpc.health.v1.Health/Bogus0")).toBe(404);
      await series();
      const before = await series();
      for (let i = 1; i <= 50; i++) {
        expect(await send(session, `BREW${i}-${"x".repeat(500)}`, "/healthz")).toBe(405);
        expect(await send(session, "POST", `/grpc.health.v1.Health/Bogus${i}`)).toBe(404);
        expect(await send(session, "POST", `/genstore.payment.v1.PaymentService/Nothing${i}`)).toBe(404);
      }
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).not.toMatch(/BREW|Bogus|Nothing/);
      expect(await series()).toBe(before);
    } finally {
      session.close();
    }
  });

  test("a 2 MB request is refused on Connect and on gRPC, and nothing is written", async () => {
    const before = await countAllDocuments(server.db);
    const big = {
      paymentId: "P1",
      amount: "1.00",
      currency: "EUR",
      test: true,
      manualCapture: false,
      paymentMethod: { data: { returnUrl: "https://shop.example/r" } },
      customer: { email: "x".repeat(2 * 2 ** 20) },
      purchaseInfo: {},
    };
    const res = await fetch(`${server.url}/genstore.payment.v1.PaymentService/CreateOffsitePayment`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(big),
    });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { code: string }).code).toBe("resource_exhausted");
    const client = createGrpcJsClient(PaymentService, `127.0.0.1:${server.port}`);
    try {
      await expect(grpcUnary(client, PaymentService.method.createOffsitePayment, big)).rejects.toMatchObject({
        code: 8,
        details: expect.stringMatching(/larger than configured readMaxBytes 65536/),
      });
    } finally {
      client.close();
    }
    expect(await countAllDocuments(server.db)).toBe(before);
  });
});

describe("connections", () => {
  let server: TestServer;
  const limits = { headersTimeoutMs: 600, keepAliveTimeoutMs: 700, http2IdleTimeoutMs: 900, requestTimeoutMs: 1500, maxConnections: 30 };
  beforeAll(async () => {
    server = await startTestServer({ background: false, limits });
  });
  afterAll(async () => {
    await server.stop();
  });

  /** Opens a raw socket, writes `bytes`, and resolves with how long the server kept it open. */
  function openFor(bytes: string | Buffer): Promise<{ ms: number; received: string }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let received = "";
      const socket: Socket = tcpConnect(server.port, "127.0.0.1", () => {
        if (bytes.length) socket.write(bytes);
      });
      socket.on("data", (d) => (received += d.toString("latin1")));
      socket.on("close", () => resolve({ ms: Date.now() - started, received }));
      socket.on("error", () => {});
      setTimeout(() => reject(new Error("the server kept the connection open for 10 s")), 10_000).unref();
    });
  }

  test.each([
    ["an idle connection", "", limits.headersTimeoutMs],
    ["a partial HTTP/1.1 request head", "GET /healthz HTTP/1.1\r\nHost: x\r\n", limits.headersTimeoutMs],
    ["a partial HTTP/2 preface", "PRI * HTTP/2.0\r\n", limits.headersTimeoutMs],
    ["an HTTP/2 preface and then silence", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", limits.http2IdleTimeoutMs],
  ])("%s is closed by the server within its timeout", async (_name, bytes, timeoutMs) => {
    const { ms } = await openFor(bytes);
    expect(ms).toBeGreaterThanOrEqual(timeoutMs - 50);
    // The HTTP/1.1 check runs every quarter of the timeout; scheduling on a busy machine adds a little.
    expect(ms).toBeLessThan(timeoutMs * 2 + 1000);
  });

  test("an HTTP/2 body trickled slower than the request timeout allows is cut, though never idle", async () => {
    const session = http2Connect(server.url);
    try {
      const started = Date.now();
      const stream = session.request({
        ":method": "POST",
        ":path": "/genstore.payment.v1.PaymentService/RefundPayment",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => {});
      // A byte every fifth of the timeout: the stream is never idle for requestTimeoutMs.
      const trickle = setInterval(() => stream.write(Buffer.from([0])), limits.requestTimeoutMs / 5);
      const rst = await new Promise<number>((resolve, reject) => {
        stream.on("close", () => resolve(stream.rstCode ?? -1));
        setTimeout(() => reject(new Error("the trickled stream was still open after 4 timeouts")), limits.requestTimeoutMs * 4).unref();
      }).finally(() => clearInterval(trickle));
      expect(rst).toBe(8); // NGHTTP2_CANCEL
      expect(Date.now() - started).toBeGreaterThanOrEqual(limits.requestTimeoutMs - 50);
    } finally {
      session.close();
    }
  });

  test("an HTTP/1.0 call without a Host header gets 400, not a failure of ours", async () => {
    const { received } = await openFor(
      "POST /genstore.payment.v1.PaymentService/GetPayment HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
    );
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).toContain('{"error":"the request names no host (Host header)"}');
    expect(server.logs.filter((l) => l.level === "error")).toEqual([]);
  });

  test.each([
    ["a target that reads as a host", "GET //[/healthz HTTP/1.1\r\nHost: x\r\n", "the request target is not a valid path"],
    ["a target that reads as a host, on a payment route", "GET //[/genstore/v1/payments/x HTTP/1.1\r\nHost: x\r\n", "the request target is not a valid path"],
    ...["[", "a b", "a:99999", "ex%ample", ":"].map((host) => [
      `Host: ${host} on a Connect route`,
      `POST /genstore.payment.v1.PaymentService/GetPayment HTTP/1.1\r\nHost: ${host}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n`,
      "the request's host (Host header) is not a valid host name",
    ]),
  ])("%s gets 400, not a failure of ours", async (_name, head, error) => {
    const { received } = await openFor(`${head}connection: close\r\n\r\n{}`);
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).toContain(JSON.stringify({ error }));
    expect(server.logs.filter((l) => l.level === "error")).toEqual([]);
  });

  test("a complete request is still served, and the idle keep-alive connection is closed after its timeout", async () => {
    const { ms, received } = await openFor("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(received).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(ms).toBeGreaterThanOrEqual(limits.keepAliveTimeoutMs - 50);
    expect(ms).toBeLessThan(limits.keepAliveTimeoutMs * 2 + 1000);
  });

  test("connections over MAX_CONNECTIONS are refused at once", async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < limits.maxConnections; i++) {
        held.push(
          await new Promise<Socket>((resolve) => {
            const s = tcpConnect(server.port, "127.0.0.1", () => resolve(s));
            s.on("error", () => {});
          }),
        );
      }
      const { ms } = await openFor("");
      expect(ms).toBeLessThan(limits.headersTimeoutMs);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});

/**
 * Sends `n` GETs over `sockets` keep-alive connections, pipelined in batches (cheap for this
 * process, so the service is what is measured); `path(i)` names each. Resolves with the statuses seen.
 */
async function pipelined(
  port: number,
  n: number,
  path: (i: number) => string,
  headers: (i: number) => string,
  sockets = 8,
  batch = 50,
): Promise<Map<string, number>> {
  const statuses = new Map<string, number>();
  let next = 0;
  const worker = () =>
    new Promise<void>((resolve, reject) => {
      const socket = tcpConnect(port, "127.0.0.1");
      let pending = 0;
      let buffered = "";
      const send = () => {
        if (next >= n) return (socket.end(), resolve());
        let out = "";
        for (let k = 0; k < batch && next < n; k++, next++, pending++) out += `GET ${path(next)} HTTP/1.1\r\nHost: x\r\n${headers(next)}\r\n`;
        socket.write(out);
      };
      socket.on("data", (d) => {
        buffered += d.toString("latin1");
        // Each answer is a small JSON body with content-length: count the status lines.
        for (let m = /HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n[^]*?\}/.exec(buffered); m; m = /HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n[^]*?\}/.exec(buffered)) {
          statuses.set(m[1]!, (statuses.get(m[1]!) ?? 0) + 1);
          buffered = buffered.slice(m.index + m[0].length);
          if (--pending === 0) send();
        }
      });
      socket.on("error", reject);
      socket.on("connect", send);
    });
  await Promise.all(Array.from({ length: sockets }, worker));
  return statuses;
}

/** The bytes of every object alive after a full collection: a heap snapshot's self sizes summed. */
function liveBytes(snapshotFile: string): number {
  const snap = JSON.parse(readFileSync(snapshotFile, "utf8")) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const fields = snap.snapshot.meta.node_fields;
  const self = fields.indexOf("self_size");
  let total = 0;
  for (let i = self; i < snap.nodes.length; i += fields.length) total += snap.nodes[i]!;
  return total;
}

test("100,000 unsigned requests naming distinct shops leave the service's memory where it was", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "genstore-limits-"));
  const port = await freePort();
  // Quiet logs (one line per refused request would dominate); readiness is polled instead.
  // SIGUSR2 makes the service write a heap snapshot: a full collection, then only what lives.
  const service = await startServiceProcess(
    {
      PORT: String(port),
      DATA_DIR: dataDir,
      MONGODB_URI: process.env.TEST_MONGODB_URI ?? "",
      MONGODB_DATABASE: "limits_test",
      GENSTORE_CLIENT_SECRET: "cs_limits_0123456789",
      RATE_LIMIT_PER_IP: "1000000",
      LOG_LEVEL: "warn",
    },
    ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${dataDir}`],
  );
  const snapshot = async () => {
    const before = new Set(readdirSync(dataDir));
    service.child.kill("SIGUSR2");
    for (let i = 0; i < 600; i++) {
      const file = readdirSync(dataDir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
      if (file) {
        try {
          return liveBytes(join(dataDir, file)) / 2 ** 20;
        } catch {
          // still being written
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("no heap snapshot within 60 s");
  };
  const n = 100_000;
  try {
    // The same code paths naming ten shops first: pools, caches and compiled code in place.
    expect(
      await pipelined(
        port,
        20_000,
        (i) => `/genstore/v1/payments/p?shopId=shop-${i % 10}`,
        (i) => `X-Genstore-Shop-Id: shop-${i % 10}\r\n`,
      ),
    ).toEqual(new Map([["401", 20_000]]));
    const before = await snapshot();
    const started = Date.now();
    const statuses = await pipelined(
      port,
      n,
      (i) => `/genstore/v1/payments/p?shopId=shop-${i}`,
      (i) => `X-Genstore-Shop-Id: shop-${i}\r\n`,
    );
    const ms = Date.now() - started;
    expect(statuses).toEqual(new Map([["401", n]]));
    const after = await snapshot();
    process.stdout.write(
      `[limits] ${n} unsigned requests naming distinct shops in ${ms} ms (${Math.round(n / (ms / 1000))} req/s): live heap ${before.toFixed(1)} -> ${after.toFixed(1)} MB\n`,
    );
    expect(after).toBeLessThanOrEqual(before * 1.1);
  } finally {
    service.child.kill("SIGKILL");
    await service.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 180_000);
