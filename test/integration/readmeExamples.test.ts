import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { root } from "../helpers/npmStart";
import { freePort } from "../helpers/serviceProcess";
import { waitFor } from "../helpers/waitFor";

// The README's gRPC examples, run as they are written there (only the port differs): the start
// block under bash, then the calls block with the start block's first line, as a reader would.
const readme = readFileSync(join(root, "README.md"), "utf8");

function shBlocks(heading: string): string[] {
  const from = readme.indexOf(`\n${heading}\n`);
  const section = readme.slice(from + 1, readme.indexOf("\n## ", from + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
}

function run(script: string, env: Record<string, string>) {
  const child = spawn("bash", ["-c", script], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", CACHE_DIR: join(root, ".cache"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: string[] = [];
  createInterface({ input: child.stdout }).on("line", (l) => out.push(l));
  createInterface({ input: child.stderr }).on("line", (l) => out.push(l));
  return { child, out, exited: new Promise<number | null>((r) => child.once("exit", (code) => r(code))) };
}

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "genstore-readme-"));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

test("the gRPC examples (buf curl, every service, the headers each needs) work as written", async () => {
  const [start, calls] = shBlocks("### Calling it over gRPC");
  expect(start?.trim().split("\n").at(-1)).toBe("npm start");
  expect(calls).toContain("localhost:8080");
  const port = await freePort();
  const service = run(start!, { PORT: String(port), DATA_DIR: dataDir });
  try {
    await waitFor("the service to listen", () => service.out.some((l) => l.includes('"msg":"listening"')), 90_000, 50);
    const reader = run(`set -e\n${start!.split("\n")[0]}\n${calls!.replaceAll("localhost:8080", `localhost:${port}`)}`, {});
    expect(await reader.exited).toBe(0);
    const out = reader.out.join("\n");
    for (const service of ["PaymentService", "ShopService", "OperationsService"]) expect(out).toContain(`genstore.payment.v1.${service}\n`);
    expect(out).toMatch(/"channelPaymentId": "\S+",\s+"status": "PAYMENT_STATUS_SUCCESS"/);
    expect(out).toMatch(/"shopId": "default",[\s\S]*?"fromEnvironment": true/);
    expect(out).toMatch(/"paymentId": "PI-2"/);
    // npm runs the service as node, which holds DATA_DIR's lock: stop it the way an operator would.
    process.kill((JSON.parse(readFileSync(join(dataDir, "ferretdb.lock"), "utf8")) as { pid: number }).pid, "SIGTERM");
    expect(await service.exited).toBe(0);
  } finally {
    if (service.child.exitCode === null) {
      const lock = join(dataDir, "ferretdb.lock");
      const pid = existsSync(lock) ? (JSON.parse(readFileSync(lock, "utf8")) as { pid: number }).pid : 0;
      if (pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("dist/src/main.js")) process.kill(pid, "SIGKILL");
      service.child.kill("SIGKILL");
    }
  }
}, 150_000);
