import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { DataDirError } from "../../src/store/dataDir";
import { acquireDataDirLock, processStartOf, type LockHolder } from "../../src/store/dataDirLock";
import { waitFor } from "../helpers/waitFor";

let dir: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "genstore-lock-"));
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const lockPath = () => join(dir, "ferretdb.lock");
const readLock = () => JSON.parse(readFileSync(lockPath(), "utf8")) as LockHolder;
const writeLock = (holder: Partial<LockHolder> | string) =>
  writeFileSync(lockPath(), typeof holder === "string" ? holder : JSON.stringify({ hostname: hostname(), startedAt: "2026-01-01T00:00:00.000Z", ...holder }));

/** A live process that is not us. */
async function otherProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  children.push(child);
  await waitFor("the process to run", () => processStartOf(child.pid!) !== undefined);
  return child;
}

test("an instance takes the lock, says where it listens, and removes it when it stops", async () => {
  const lock = await acquireDataDirLock(dir, () => new Date("2026-11-30T06:00:00Z"));
  expect(readLock()).toEqual({ pid: process.pid, processStart: processStartOf(process.pid), hostname: hostname(), startedAt: "2026-11-30T06:00:00.000Z" });
  lock.update({ url: "http://localhost:8080" });
  expect(readLock()).toMatchObject({ pid: process.pid, url: "http://localhost:8080" });
  lock.release();
  expect(existsSync(lockPath())).toBe(false);
  expect(existsSync(join(dir, `ferretdb.lock.${process.pid}.tmp`))).toBe(false);
});

test("a lock held by a running process refuses the start and names that process", async () => {
  const holder = await otherProcess();
  writeLock({ pid: holder.pid!, processStart: processStartOf(holder.pid!), url: "http://localhost:8080" });
  await expect(acquireDataDirLock(dir)).rejects.toThrow(DataDirError);
  await expect(acquireDataDirLock(dir)).rejects.toThrow(
    `DATA_DIR ${dir} is in use by another instance of this service (pid ${holder.pid}, started 2026-01-01T00:00:00.000Z, listening at http://localhost:8080)`,
  );
  expect(readLock().pid).toBe(holder.pid);
});

test.each([
  [
    "its process is gone",
    async () => {
      const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
      await new Promise((r) => gone.once("exit", r));
      return { pid: gone.pid!, processStart: "1" };
    },
  ],
  ["its pid now belongs to another process", async () => ({ pid: (await otherProcess()).pid!, processStart: "1" })],
  ["it was written on another host (a replaced container)", async () => ({ pid: (await otherProcess()).pid!, hostname: "old-container" })],
  ["it is not a lock we wrote", async () => "garbage"],
])("a stale lock is taken over when %s", async (_name, stale) => {
  const holder = await stale();
  writeLock(typeof holder === "string" ? holder : { processStart: undefined, ...holder });
  const lock = await acquireDataDirLock(dir);
  expect(readLock().pid).toBe(process.pid);
  expect(readdirSync(dir)).toEqual(["ferretdb.lock"]);
  lock.release();
});

test("a takeover left unfinished by a process that died does not block the next one", async () => {
  const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((r) => gone.once("exit", r));
  writeLock({ pid: gone.pid!, processStart: "1" });
  writeFileSync(join(dir, "ferretdb.lock.takeover"), JSON.stringify({ pid: gone.pid!, processStart: "1", hostname: hostname(), startedAt: "x" }));
  const lock = await acquireDataDirLock(dir);
  expect(readLock().pid).toBe(process.pid);
  expect(readdirSync(dir)).toEqual(["ferretdb.lock"]);
  lock.release();
});

test("a lock someone else holds now is left alone by our release", async () => {
  const lock = await acquireDataDirLock(dir);
  rmSync(lockPath());
  writeLock({ pid: 1, processStart: "1" });
  lock.release();
  lock.update({ url: "http://localhost:1" });
  expect(readLock()).toMatchObject({ pid: 1 });
});

test("processes racing for one stale lock: exactly one wins, the others name it", async () => {
  const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((r) => gone.once("exit", r));
  writeLock({ pid: gone.pid!, processStart: "1" });
  const script = resolve(__dirname, "../helpers/lockContender.ts");
  const contenders = Array.from({ length: 5 }, () => {
    const child = spawn(process.execPath, ["--import", "tsx", script, dir], { stdio: ["pipe", "pipe", "inherit"] });
    children.push(child);
    const said: string[] = [];
    createInterface({ input: child.stdout! }).on("line", (l) => said.push(l));
    return { child, said };
  });
  await waitFor("every contender loaded", () => contenders.every((c) => c.said.includes("ready")), 60_000);
  for (const c of contenders) c.child.stdin!.write("go\n");
  await waitFor("every contender tried", () => contenders.every((c) => c.said.length === 2), 20_000);
  const results = contenders.map((c) => c.said[1]!);
  const winner = contenders.find((c) => c.said[1] === "won");
  expect(results.filter((r) => r === "won")).toHaveLength(1);
  expect(readLock().pid).toBe(winner?.child.pid);
  for (const r of results.filter((x) => x !== "won")) expect(r).toContain(`is in use by another instance of this service (pid ${winner?.child.pid},`);
}, 90_000);
