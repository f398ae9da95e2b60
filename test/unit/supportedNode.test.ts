import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { supportedNodeMajors, unsupportedNodeWarning } from "../../src/app/supportedNode";

const root = resolve(__dirname, "../..");
const read = (file: string) => readFileSync(resolve(root, file), "utf8");

test("a Node.js outside the supported lines gets a warning naming them", () => {
  expect(unsupportedNodeWarning("20.20.2")).toBe("Node.js 20.20.2 is not supported: use Node.js 22, 24 or 26 (the lines it is tested on)");
  expect(unsupportedNodeWarning("27.0.0")).toMatch(/^Node\.js 27\.0\.0 is not supported/);
  for (const major of supportedNodeMajors) expect(unsupportedNodeWarning(`${major}.1.0`)).toBeUndefined();
});

test("package.json's engines, .ci/run and the README name the same Node.js lines", () => {
  const engines = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
  expect(engines.split(" || ").map((range) => Number(/^\^(\d+)\./.exec(range)?.[1]))).toEqual([...supportedNodeMajors]);
  const ci = read(".ci/run");
  expect(ci).toMatch(/node_major" -lt 24 \]/);
  expect(ci).toContain(`for other in ${supportedNodeMajors.filter((m) => m !== 24).join(" ")}; do`);
  expect(read("README.md")).toContain(`**Node.js ${supportedNodeMajors.slice(0, -1).join(", ")} or ${supportedNodeMajors.at(-1)}**`);
});
