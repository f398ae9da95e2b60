import type { ServerResponse } from "node:http";
import { connect as http2Connect } from "node:http2";
import { connect as tcpConnect } from "node:net";
import { listen } from "../../src/server/createServer";

// One port, two protocols: the HTTP/2 preface decides, even when it arrives in pieces.
test("an HTTP/2 preface split across packets still reaches the HTTP/2 server; HTTP/1.1 still works", async () => {
  const server = await listen(
    (req, res) => {
      (res as ServerResponse).writeHead(200, { "content-type": "text/plain" });
      res.end(`hello over ${req.httpVersion}`);
    },
    0,
    "127.0.0.1",
  );
  try {
    const http1 = await (await fetch(`${server.url}/`)).text();
    expect(http1).toBe("hello over 1.1");

    const session = http2Connect(server.url, {
      createConnection: () => {
        const socket = tcpConnect(server.port, "127.0.0.1");
        // Dribble the first writes byte by byte so the server sees a partial preface.
        const write = socket.write.bind(socket);
        let dribbled = false;
        socket.write = ((chunk: Buffer, ...rest: never[]) => {
          if (!dribbled && Buffer.isBuffer(chunk) && chunk.length > 4) {
            dribbled = true;
            write(chunk.subarray(0, 3));
            setTimeout(() => write(chunk.subarray(3), ...rest), 20);
            return true;
          }
          return write(chunk, ...rest);
        }) as typeof socket.write;
        return socket;
      },
    });
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ":path": "/" });
      let text = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (text += c));
      req.on("end", () => resolve(text));
      req.on("error", reject);
    });
    session.close();
    expect(body).toBe("hello over 2.0");
  } finally {
    await server.close();
  }
});
