import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Schemathesis from PyPI, pinned; installed once into a project-local virtual environment. */
export const SCHEMATHESIS_VERSION = "4.32.5";

/** The `st` command of `.cache/venv`, created (python3 -m venv) and filled (pip) when missing. */
export function ensureSchemathesis(cacheDir: string, log: (line: string) => void = () => {}): string {
  const venv = join(cacheDir, "venv");
  const st = join(venv, "bin", "st");
  if (existsSync(st) && spawnSync(st, ["--version"], { encoding: "utf8" }).stdout.includes(SCHEMATHESIS_VERSION)) return st;
  const started = Date.now();
  log(`installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv}`);
  const steps: [string, string[]][] = [
    ["python3", ["-m", "venv", venv]],
    [join(venv, "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", `schemathesis==${SCHEMATHESIS_VERSION}`]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.error || r.status !== 0) throw new Error(`could not install schemathesis (${cmd} ${args.join(" ")}): ${r.error?.message ?? r.stderr.trim()}`);
  }
  log(`installed schemathesis in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return st;
}

export interface JunitCase {
  name: string;
  failure?: string;
}

/** The operations of a Schemathesis JUnit report, each with its failure text if it failed. */
export function readJunit(path: string): JunitCase[] {
  const xml = readFileSync(path, "utf8");
  const cases: JunitCase[] = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const name = /\bname="([^"]*)"/.exec(m[1] ?? "")?.[1] ?? "?";
    const inner = m[3] ?? "";
    const failed = /<(failure|error)\b[^>]*?(?:message="([^"]*)")?[^>]*?(?:\/>|>([\s\S]*?)<\/\1>)/.exec(inner);
    cases.push(failed ? { name, failure: `${failed[2] ?? ""}\n${failed[3] ?? ""}`.trim() } : { name });
  }
  return cases;
}

/** Runs the `st` CLI to its end; resolves with its exit code and everything it printed. */
export function runSt(st: string, args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(st, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.on("data", (c: Buffer) => chunks.push(c));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output: Buffer.concat(chunks).toString("utf8") }));
  });
}
