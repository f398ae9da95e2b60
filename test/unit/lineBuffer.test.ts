import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { createLineBuffer, flushLineBuffers } from "../../src/observability/lineBuffer";
import { waitFor } from "../helpers/waitFor";

/** A stream that keeps each write apart, to count them. */
function recorder() {
  const writes: string[] = [];
  return { writes, stream: { write: (chunk: string) => writes.push(chunk) } as unknown as NodeJS.WritableStream };
}

test("lines are held, then written together and in order", async () => {
  const { writes, stream } = recorder();
  const buffer = createLineBuffer(stream, 30);
  buffer.write('{"n":1}\n');
  buffer.write('{"n":2}\n');
  buffer.write('{"n":3}\n');
  expect(writes).toEqual([]);
  await waitFor("the held lines", () => writes.length > 0);
  expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n']);
  buffer.write('{"n":4}\n');
  await waitFor("the next line", () => writes.length > 1);
  expect(writes[1]).toBe('{"n":4}\n');
});

test("a full buffer is written at once, and a flush writes what is held", () => {
  const { writes, stream } = recorder();
  const buffer = createLineBuffer(stream, 60_000, 20);
  buffer.write("0123456789\n");
  expect(writes).toEqual([]);
  buffer.write("0123456789\n");
  expect(writes).toEqual(["0123456789\n0123456789\n"]);
  buffer.write("last\n");
  flushLineBuffers();
  expect(writes).toEqual(["0123456789\n0123456789\n", "last\n"]);
  flushLineBuffers();
  expect(writes).toHaveLength(2);
});

test("process.exit writes the held lines", () => {
  const module = resolve(__dirname, "../../src/observability/lineBuffer.ts");
  const script = `const { createLineBuffer } = require(${JSON.stringify(module)});
    const b = createLineBuffer(process.stdout, 60000);
    b.write("held until exit\\n");
    process.exit(3);`;
  let out = "";
  try {
    execFileSync(process.execPath, ["--import", "tsx", "-e", script], { encoding: "utf8" });
  } catch (err) {
    const e = err as { status: number; stdout: string };
    expect(e.status).toBe(3);
    out = e.stdout;
  }
  expect(out).toBe("held until exit\n");
});
