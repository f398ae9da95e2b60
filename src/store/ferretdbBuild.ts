import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import type { Logger } from "../observability/logger.js";
import { sourceFolder } from "../runtime/sourceFolder.js";

const run = promisify(execFile);

/** Our Go program around FerretDB's embeddable package (in src/ also when dist/ runs). */
export const ferretdbSourceDir = sourceFolder(__dirname, "ferretdb");

/**
 * How Go builds the launcher: static (no C toolchain needed) and with paths trimmed. The launcher's
 * Go tests use the same, so that Go reuses what the build compiled.
 */
export const goBuildFlags: readonly string[] = ["-trimpath"];
export const goBuildEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CGO_ENABLED: "0" });

export class EmbeddedDatabaseError extends Error {
  override name = "EmbeddedDatabaseError";
}

export interface BuildOptions {
  log?: Logger;
  /** Progress is logged at least this often while Go works (it is silent for minutes otherwise). */
  progressEveryMs?: number;
  /** Aborting kills the Go build (a stop during the first start). */
  signal?: AbortSignal;
}

async function goVersion(): Promise<string> {
  try {
    const { stdout } = await run("go", ["version"]);
    return stdout.trim();
  } catch {
    throw new EmbeddedDatabaseError(
      "MONGODB_URI is not set and Go (>= 1.24) is not on PATH, so the embedded FerretDB cannot be built: install Go or set MONGODB_URI",
    );
  }
}

/** The binary's path in cacheDir: one per Go version and content of every build file. */
function binaryPath(cacheDir: string, version: string): string {
  const hash = createHash("sha256").update(version);
  for (const file of readdirSync(ferretdbSourceDir)
    .filter((f) => /\.(go|mod|sum)$/.test(f))
    .sort())
    hash.update(file).update(readFileSync(join(ferretdbSourceDir, file)));
  // Absolute: go build runs in the source folder, so a relative -o would land there.
  return resolve(cacheDir, "ferretdb", hash.digest("hex").slice(0, 16), "ferretdb");
}

/**
 * Builds the launcher once per source and Go version into cacheDir and returns the binary's
 * path. A build is written under a temporary name and renamed, so concurrent starts are safe.
 */
export async function buildEmbeddedDatabase(cacheDir: string, opts: BuildOptions = {}): Promise<string> {
  const log = opts.log ?? (() => {});
  const version = await goVersion();
  const m = /go(\d+)\.(\d+)/.exec(version);
  if (!m || Number(m[1]) < 1 || (Number(m[1]) === 1 && Number(m[2]) < 24)) {
    throw new EmbeddedDatabaseError(`the embedded FerretDB needs Go >= 1.24, found "${version}": upgrade Go or set MONGODB_URI`);
  }
  const binary = binaryPath(cacheDir, version);
  if (existsSync(binary)) return binary;

  const dir = join(binary, "..");
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new EmbeddedDatabaseError(
      `CACHE_DIR ${cacheDir} cannot be written (${code}): set CACHE_DIR to a folder this user can write (the embedded FerretDB is built there)`,
    );
  }
  const tmp = `${binary}.${process.pid}.tmp`;
  const started = Date.now();
  log({
    level: "info",
    msg: `building the embedded FerretDB once into ${dir} with ${version}: Go modules are downloaded, then compiled (minutes on a new machine; progress every ${(opts.progressEveryMs ?? 5_000) / 1000} s)`,
  });
  try {
    await runGo(["build", "-v", ...goBuildFlags, "-o", tmp, "."], {
      cwd: ferretdbSourceDir,
      env: goBuildEnv(),
      started,
      log,
      everyMs: opts.progressEveryMs ?? 5_000,
      signal: opts.signal,
      progress: buildProgress(),
    });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  renameSync(tmp, binary);
  log({ level: "info", msg: `built the embedded FerretDB in ${seconds(started)} s`, elapsedSeconds: Number(seconds(started)) });
  return binary;
}

/** What a build has done so far, from Go's output lines, in a few words. */
interface Progress {
  line(text: string): void;
  /** "downloading Go modules: …" or "compiling Go packages: …". */
  summary(): string;
}

/**
 * `go build -v` prints "go: downloading <module> <version>" for each module it fetches (none that
 * are in GOMODCACHE), then each package it compiles (none that are in GOCACHE).
 */
function buildProgress(): Progress {
  let modules = 0;
  let packages = 0;
  let last = "";
  return {
    line(text) {
      const module = /^go: downloading (\S+ \S+)$/.exec(text)?.[1];
      if (module) {
        modules++;
        last = module;
      } else if (/^[\w.~-]+(\/[\w.~-]+)*$/.test(text)) {
        packages++;
        last = text;
      }
    },
    summary() {
      if (packages) return `compiling Go packages: ${packages} compiled, last ${last}`;
      return modules ? `downloading Go modules: ${modules} so far, last ${last}` : "downloading Go modules: checking the module cache";
    },
  };
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

interface GoStep {
  cwd: string;
  env: NodeJS.ProcessEnv;
  progress: Progress;
  started: number;
  everyMs: number;
  log: Logger;
  signal: AbortSignal | undefined;
}

/** Runs one go command, logging its progress every everyMs; fails with the last lines Go printed. */
function runGo(args: string[], step: GoStep): Promise<void> {
  const say = () =>
    step.log({
      level: "info",
      msg: `building the embedded FerretDB: ${step.progress.summary()} (${seconds(step.started)} s)`,
      elapsedSeconds: Number(seconds(step.started)),
    });
  say();
  const timer = setInterval(say, step.everyMs);
  const child = spawn("go", args, { cwd: step.cwd, env: step.env, stdio: ["ignore", "pipe", "pipe"], ...(step.signal ? { signal: step.signal } : {}) });
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    createInterface({ input: stream }).on("line", (text) => {
      step.progress.line(text);
      tail.push(text);
      if (tail.length > 5) tail.shift();
    });
  return new Promise<void>((resolveRun, reject) => {
    child.once("error", (err) => {
      clearInterval(timer);
      reject(step.signal?.aborted ? err : new EmbeddedDatabaseError(`building the embedded FerretDB failed: ${err.message}`));
    });
    child.once("close", (code) => {
      clearInterval(timer);
      if (code === 0) return resolveRun();
      if (step.signal?.aborted) return reject(new Error("aborted"));
      const downloading = step.progress.summary().startsWith("downloading");
      const hint = downloading ? ": check access to the Go module proxy (GOPROXY) or set MONGODB_URI" : "";
      reject(new EmbeddedDatabaseError(`building the embedded FerretDB failed (go ${args[0]} exited with ${code}): ${tail.slice(-3).join(" | ")}${hint}`));
    });
  });
}
