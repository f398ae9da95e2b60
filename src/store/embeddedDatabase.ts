import { execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Our Go program around FerretDB's embeddable package (decisions.md D12). */
const sourceDir = join(__dirname, "ferretdb");

export class EmbeddedDatabaseError extends Error {
  override name = "EmbeddedDatabaseError";
}

/** One running FerretDB process. */
export interface EmbeddedDatabase {
  uri: string;
  pid: number;
  /** Resolves when the process has exited, with how ("killed by SIGKILL"). */
  exited: Promise<string>;
  /** Stops it and waits for it to exit. */
  stop(): Promise<void>;
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

/**
 * Builds the launcher once per source and Go version into cacheDir and returns the binary's
 * path. A build is written under a temporary name and renamed, so concurrent starts are safe.
 */
export async function buildEmbeddedDatabase(cacheDir: string, log: (line: string) => void = () => {}): Promise<string> {
  const version = await goVersion();
  const m = /go(\d+)\.(\d+)/.exec(version);
  if (!m || Number(m[1]) < 1 || (Number(m[1]) === 1 && Number(m[2]) < 24)) {
    throw new EmbeddedDatabaseError(`the embedded FerretDB needs Go >= 1.24, found "${version}": upgrade Go or set MONGODB_URI`);
  }
  const hash = createHash("sha256").update(version);
  // Every file of the build is in the key: an edit to any of them builds anew.
  for (const file of readdirSync(sourceDir)
    .filter((f) => /\.(go|mod|sum)$/.test(f))
    .sort())
    hash.update(file).update(readFileSync(join(sourceDir, file)));
  const dir = join(cacheDir, "ferretdb", hash.digest("hex").slice(0, 16));
  const binary = join(dir, "ferretdb");
  if (existsSync(binary)) return binary;

  mkdirSync(dir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  log(`building the embedded FerretDB (once) into ${dir} ...`);
  const started = Date.now();
  try {
    await run("go", ["build", "-trimpath", "-o", tmp, "."], {
      cwd: sourceDir,
      env: { ...process.env, CGO_ENABLED: "0" },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    rmSync(tmp, { force: true });
    const detail = String((err as { stderr?: string }).stderr ?? err)
      .trim()
      .split("\n")
      .slice(-3)
      .join(" | ");
    throw new EmbeddedDatabaseError(`building the embedded FerretDB failed: ${detail}`);
  }
  renameSync(tmp, binary);
  log(`built the embedded FerretDB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return binary;
}

export interface StartOptions {
  dataDir: string;
  cacheDir: string;
  /** Loopback address to listen on; port 0 picks a free one. */
  listen?: string;
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

/** Builds (if needed) and starts FerretDB with SQLite files under dataDir/ferretdb. */
export async function startEmbeddedDatabase(opts: StartOptions): Promise<EmbeddedDatabase> {
  const log = opts.log ?? (() => {});
  const binary = await buildEmbeddedDatabase(opts.cacheDir, log);
  const dir = join(opts.dataDir, "ferretdb");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return launchFerretDB(binary, dir, opts.listen ?? "127.0.0.1:0", log, opts.startTimeoutMs ?? 30_000);
}

/** Starts the launcher binary on `listen` and resolves once it says it is ready. */
export async function launchFerretDB(
  binary: string,
  dir: string,
  listen: string,
  log: (line: string) => void,
  startTimeoutMs: number,
): Promise<EmbeddedDatabase> {
  // stdin stays a pipe: FerretDB exits when it closes, so it never outlives us.
  const child = spawn(binary, ["-dir", dir, "-listen", listen], { stdio: ["pipe", "pipe", "pipe"] });
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    log(`ferretdb: ${line}`);
  });
  const exited = new Promise<string>((res) => child.once("exit", (code, signal) => res(signal ? `killed by ${signal}` : `exited with code ${code}`)));

  const uri = await new Promise<string>((resolveUri, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new EmbeddedDatabaseError(`the embedded FerretDB did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new EmbeddedDatabaseError(`the embedded FerretDB could not be started: ${err.message}`));
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new EmbeddedDatabaseError(`the embedded FerretDB ${how}: ${stderrTail.slice(-3).join(" | ")}`));
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /^ready (mongodb:\/\/\S+)$/.exec(line);
      if (m?.[1]) {
        clearTimeout(timer);
        resolveUri(m[1]);
      }
    });
  });

  return {
    uri,
    pid: child.pid ?? 0,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
