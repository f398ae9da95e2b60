import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";

const root = resolve(__dirname, "../..");

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  output: string[];
  exited: Promise<number | null>;
}

/**
 * The real service as its own process (node --import tsx src/main.ts: one process, so a
 * SIGKILL really kills it). Resolves once it listens.
 */
export async function startServiceProcess(env: Record<string, string>, nodeFlags: string[] = []): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout?.on("data", (c: Buffer) => output.push(c.toString("utf8")));
  child.stderr?.on("data", (c: Buffer) => output.push(c.toString("utf8")));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const fixed = env.PORT && env.PORT !== "0" ? `http://127.0.0.1:${env.PORT}` : undefined;
  for (let i = 0; i < 1200; i++) {
    const m = /^(?=.*"msg":"listening").*?"url":"([^"]+)"/m.exec(output.join(""));
    if (m?.[1]) return { child, url: m[1], output, exited };
    // With LOG_LEVEL above info the "listening" line is not printed: ask the port instead.
    if (
      fixed &&
      (await fetch(`${fixed}/healthz`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      return { child, url: fixed, output, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`the service did not start: ${output.join("").slice(-2000)}`);
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
