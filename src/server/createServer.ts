import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  constants as http2Constants,
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from "node:net";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;
export type RequestHandler = (req: Request, res: Response) => void;

/** The client connection preface every HTTP/2 connection starts with (RFC 9113 §3.4). */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Connection limits (see ServerLimits in config.ts, where each has its setting). */
export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  http2IdleTimeoutMs: number;
  maxConnections: number;
}

export const defaultLimits: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  http2IdleTimeoutMs: 120_000,
  maxConnections: 2000,
};

export interface ListeningServer {
  port: number;
  url: string;
  /** Stops accepting connections and closes idle ones; in-flight requests finish first. */
  close(): Promise<void>;
}

/** Hands a new connection to HTTP/2 or HTTP/1.1 by its first bytes, within headersTimeoutMs. */
function sniff(socket: Socket, timeoutMs: number, toHttp2: (s: Socket) => void, toHttp1: (s: Socket) => void): void {
  socket.on("error", () => socket.destroy());
  // Until its first bytes say which protocol it speaks, a connection gets headersTimeoutMs.
  const silent = setTimeout(() => socket.destroy(), timeoutMs);
  silent.unref();
  socket.once("close", () => clearTimeout(silent));
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const isHttp2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isHttp2 && seen.length < PREFACE.length) return; // wait for the rest of the preface
    socket.removeListener("data", onData);
    clearTimeout(silent);
    socket.pause();
    socket.unshift(seen);
    // The HTTP/2 session drains the unshifted bytes and then reads the socket's handle natively;
    // resuming the JS stream there would steal its input. HTTP/1.1 reads the JS stream.
    if (isHttp2) toHttp2(socket);
    else {
      toHttp1(socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
}

/** Both HTTP servers, with the limits that keep a connection from being held for free. */
function httpServers(handler: RequestHandler, tracked: RequestHandler, limits: ConnectionLimits) {
  const http1 = createHttp1Server(
    {
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    tracked,
  );
  // Node enforces headersTimeout and requestTimeout only on connections it tracks, and starts
  // tracking when the server listens; ours never does (the sniffer hands sockets over).
  http1.emit("listening");
  const http2 = createHttp2Server({ settings: { maxConcurrentStreams: 250 } }, (req, res) => {
    // A stream that stops sending (a slow body) is reset; the session's idle timeout covers the rest.
    req.setTimeout(limits.requestTimeoutMs);
    // And, as HTTP/1.1's requestTimeout, its whole body must arrive within requestTimeoutMs: a
    // body trickled a byte at a time would otherwise hold its buffers without ever being idle.
    if (!req.stream.endAfterHeaders) {
      const deadline = setTimeout(() => req.stream.close(http2Constants.NGHTTP2_CANCEL), limits.requestTimeoutMs);
      const done = () => clearTimeout(deadline);
      req.once("end", done);
      req.stream.once("close", done);
    }
    handler(req, res);
  });
  http2.setTimeout(limits.http2IdleTimeoutMs);
  return { http1, http2 };
}

/**
 * One port for HTTP/1.1 (Genstore JSON, Connect JSON) and HTTP/2 cleartext (gRPC, Connect):
 * the first bytes of each connection tell which protocol it speaks. No connection is kept
 * for free: a silent or slow client is cut after headersTimeoutMs, an idle keep-alive or HTTP/2
 * connection after its idle timeout, and at most maxConnections are open at once.
 */
export function listen(handler: RequestHandler, port: number, host: string, limits: ConnectionLimits = defaultLimits): Promise<ListeningServer> {
  // The HTTP servers never listen themselves, so Node does not track their connections for
  // closeIdleConnections(); we count in-flight requests per HTTP/1.1 socket instead.
  const inFlight = new Map<Socket, number>();
  let closing = false;
  const tracked: RequestHandler = (req, res) => {
    const socket = req.socket as Socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    if (closing) res.setHeader("connection", "close");
    res.once("close", () => {
      const n = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, n);
      if (closing && n === 0) socket.end();
    });
    handler(req, res);
  };
  const { http1, http2 } = httpServers(handler, tracked, limits);
  const sessions = new Set<ServerHttp2Session>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  const sockets = new Set<Socket>();
  const tcp: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      inFlight.delete(socket);
    });
    sniff(
      socket,
      limits.headersTimeoutMs,
      (s) => http2.emit("connection", s),
      (s) => {
        inFlight.set(s, 0);
        http1.emit("connection", s);
      },
    );
  });
  tcp.maxConnections = limits.maxConnections;
  const close = () =>
    new Promise<void>((done) => {
      closing = true;
      tcp.close(() => done());
      // Idle HTTP/1.1 keep-alive connections go now; busy ones after their answer.
      for (const [socket, n] of inFlight) if (n === 0) socket.end();
      // HTTP/2 sessions finish their open streams, then close.
      for (const session of sessions) session.close();
      // Connections still open after the grace period are cut.
      setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 10_000).unref();
    });
  return new Promise((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, host, () => {
      const address = tcp.address() as AddressInfo;
      const shownHost = host === "0.0.0.0" || host === "::" ? "localhost" : host;
      resolve({ port: address.port, url: `http://${shownHost}:${address.port}`, close });
    });
  });
}
