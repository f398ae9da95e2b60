import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Toxiproxy, type Proxy } from "toxiproxy-node-client";
import { freePort } from "./serviceProcess";
import { waitFor } from "./waitFor";

/** Shopify's fault proxy, pinned: latency, bandwidth, resets, half-open connections, outages. */
export const TOXIPROXY_VERSION = "v2.12.0";

/** Installs toxiproxy-server once into the project cache with `go install` (Go module proxy). */
export function ensureToxiproxy(cacheDir: string, log: (line: string) => void = () => {}): string {
  const bin = join(cacheDir, "toxiproxy", TOXIPROXY_VERSION);
  const exe = join(bin, "server");
  if (existsSync(exe)) return exe;
  mkdirSync(bin, { recursive: true });
  log(`installing github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}`);
  const started = Date.now();
  const r = spawnSync("go", ["install", `github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}`], {
    env: { ...process.env, GOBIN: bin },
    encoding: "utf8",
  });
  if (r.error || r.status !== 0) throw new Error(`could not install toxiproxy ${TOXIPROXY_VERSION} with go install: ${r.error?.message ?? r.stderr.trim()}`);
  log(`installed toxiproxy in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return exe;
}

export interface FaultProxy {
  client: Toxiproxy;
  /** A proxy listening on a free loopback port in front of `upstream` (host:port). */
  proxy(name: string, upstream: string): Promise<{ proxy: Proxy; address: string }>;
  stop(): Promise<void>;
}

/** Starts toxiproxy-server on a free port and waits until its API answers. */
export async function startToxiproxy(exe: string): Promise<FaultProxy> {
  const port = await freePort();
  const child = spawn(exe, ["-host", "127.0.0.1", "-port", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.resume();
  process.once("exit", () => child.kill("SIGKILL"));
  const client = new Toxiproxy(`http://127.0.0.1:${port}`);
  await waitFor("toxiproxy to answer", () => client.getVersion().then(Boolean, () => false), 20_000, 50);
  return {
    client,
    async proxy(name, upstream) {
      const listen = `127.0.0.1:${await freePort()}`;
      const proxy = await client.createProxy({ name, listen, upstream });
      return { proxy, address: listen };
    },
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once("exit", () => done());
        child.kill("SIGTERM");
      }),
  };
}
