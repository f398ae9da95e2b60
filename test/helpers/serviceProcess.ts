import { spawn, type ChildProcess } from "node:child_process";
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
export async function startServiceProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout?.on("data", (c: Buffer) => output.push(c.toString("utf8")));
  child.stderr?.on("data", (c: Buffer) => output.push(c.toString("utf8")));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  for (let i = 0; i < 1200; i++) {
    const m = /^(?=.*"msg":"listening").*?"url":"([^"]+)"/m.exec(output.join(""));
    if (m?.[1]) return { child, url: m[1], output, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`the service did not start: ${output.join("").slice(-2000)}`);
}
