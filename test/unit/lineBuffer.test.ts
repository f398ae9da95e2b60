import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { createLineBuffer, flushLineBuffers } from "../../src/observability/lineBuffer";
import { createJsonLogger } from "../../src/observability/logger";
import { waitFor } from "../helpers/waitFor";

/** A stream that keeps each write apart, to count them. */
function recorder() {
  const writes: string[] = [];
  return { writes, stream: { write: (chunk: string) => writes.push(chunk) } as unknown as NodeJS.WritableStream };
}
const info = (n: number) => `{"level":"info","n":${n}}\n`;

test("info lines are held, then written together and in order", async () => {
  const { writes, stream } = recorder();
  const buffer = createLineBuffer(stream, 30);
  buffer.write(info(1));
  buffer.write(info(2));
  buffer.write(info(3));
  expect(writes).toEqual([]);
  await waitFor("the held lines", () => writes.length > 0);
  expect(writes).toEqual([info(1) + info(2) + info(3)]);
  buffer.write(info(4));
  await waitFor("the next line", () => writes.length > 1);
  expect(writes[1]).toBe(info(4));
});

test("a warn or error line goes at once, after the lines held before it", () => {
  const { writes, stream } = recorder();
  const buffer = createLineBuffer(stream, 60_000);
  buffer.write(info(1));
  buffer.write('{"level":"warn","n":2}\n');
  expect(writes).toEqual([info(1) + '{"level":"warn","n":2}\n']);
  buffer.write('{"level":"error","n":3}\n');
  expect(writes).toHaveLength(2);
});

test("the logger's lines start with their level, so that warn and error are told apart", () => {
  const { writes, stream } = recorder();
  const log = createJsonLogger(createLineBuffer(stream, 60_000), "debug", { instance: "i-1" });
  log({ level: "info", msg: "held" });
  log({ level: "debug", msg: "held too" });
  expect(writes).toEqual([]);
  log({ level: "error", msg: "at once" });
  expect(writes).toHaveLength(1);
  expect(writes[0]!.split("\n").map((l) => (l ? (JSON.parse(l) as { msg: string }).msg : ""))).toEqual(["held", "held too", "at once", ""]);
});

test("a full buffer is written at once, and a flush writes what is held", () => {
  const { writes, stream } = recorder();
  const buffer = createLineBuffer(stream, 60_000, 40);
  const line = `{"level":"info","x":"${"0".repeat(10)}"}\n`;
  buffer.write(line);
  expect(writes).toEqual([]);
  buffer.write(line);
  expect(writes).toEqual([line + line]);
  buffer.write(info(9));
  flushLineBuffers();
  expect(writes).toEqual([line + line, info(9)]);
  flushLineBuffers();
  expect(writes).toHaveLength(2);
});

test("process.exit writes the held lines", () => {
  const module = resolve(__dirname, "../../src/observability/lineBuffer.ts");
  const script = `const { createLineBuffer } = require(${JSON.stringify(module)});
    const b = createLineBuffer(process.stdout, 60000);
    b.write('{"level":"info","msg":"held until exit"}\\n');
    process.exit(3);`;
  let out = "";
  try {
    execFileSync(process.execPath, ["--import", "tsx", "-e", script], { encoding: "utf8" });
  } catch (err) {
    const e = err as { status: number; stdout: string };
    expect(e.status).toBe(3);
    out = e.stdout;
  }
  expect(out).toBe('{"level":"info","msg":"held until exit"}\n');
});
