import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

/** Stripe's official mock server, pinned; it validates every request against Stripe's OpenAPI spec. */
export const STRIPE_MOCK_VERSION = "v0.203.0";

export interface StripeMock {
  url: string;
  stop(): Promise<void>;
}

/** Installs stripe-mock once into the project cache with `go install` (Go module proxy). */
export function ensureStripeMock(cacheDir: string, log: (line: string) => void = () => {}): string {
  const bin = join(cacheDir, "stripe-mock", STRIPE_MOCK_VERSION);
  const exe = join(bin, "stripe-mock");
  if (existsSync(exe)) return exe;
  mkdirSync(bin, { recursive: true });
  log(`installing github.com/stripe/stripe-mock@${STRIPE_MOCK_VERSION}`);
  const started = Date.now();
  const r = spawnSync("go", ["install", `github.com/stripe/stripe-mock@${STRIPE_MOCK_VERSION}`], { env: { ...process.env, GOBIN: bin }, encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(
      `could not install stripe-mock ${STRIPE_MOCK_VERSION} with go install (Go >= 1.24 and the Go module proxy are needed): ${r.error?.message ?? r.stderr.trim()}`,
    );
  }
  log(`installed stripe-mock in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return exe;
}

/** Starts stripe-mock on free loopback ports and resolves once it listens. */
export function startStripeMock(exe: string): Promise<StripeMock> {
  const child: ChildProcess = spawn(exe, ["-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:"], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`stripe-mock did not start: ${out.slice(-500)}`)), 20_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const m = /Listening for HTTP at address: (\S+)/.exec(out);
      if (!m?.[1]) return;
      clearTimeout(timer);
      child.stdout?.removeAllListeners("data");
      child.stderr?.removeAllListeners("data");
      // Drain its request log so the pipe never fills; never outlive the test run (Ctrl-C included).
      child.stdout?.resume();
      child.stderr?.resume();
      process.once("exit", () => child.kill("SIGKILL"));
      resolve({
        url: `http://${m[1]}`,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", fail);
    child.once("exit", (code) => fail(new Error(`stripe-mock exited with ${code}: ${out.slice(-500)}`)));
  });
}
