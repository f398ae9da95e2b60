import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

// The layers stay layered: imports between the folders of src/ never go round in a circle, and
// the domain speaks neither protobuf nor a database driver.
const src = resolve(__dirname, "../../src");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** The top folder of src/ a file belongs to ("payments", "server", …; a file at the top is its own). */
const folderOf = (file: string) => relative(src, file).split("/")[0]!.replace(/\.ts$/, "");

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^\s*(?:import|export)[^"';]*?from\s+"(\.[^"]+)"/gm)].map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, ".ts")));
}

const edges = new Map<string, Set<string>>();
for (const file of files(src)) {
  const from = folderOf(file);
  for (const target of importsOf(file)) {
    if (!target.startsWith(src)) continue;
    const to = folderOf(target);
    if (to !== from) edges.set(from, (edges.get(from) ?? new Set()).add(to));
  }
}

test("no import cycle between the folders of src/", () => {
  const cycles: string[] = [];
  const visit = (node: string, path: string[]) => {
    for (const next of edges.get(node) ?? []) {
      if (path.includes(next)) cycles.push([...path.slice(path.indexOf(next)), next].join(" -> "));
      else visit(next, [...path, next]);
    }
  };
  for (const node of edges.keys()) visit(node, [node]);
  expect([...new Set(cycles)]).toEqual([]);
});

test("the domain imports no transport, no generated protobuf and no database driver", () => {
  const offenders = files(join(src, "payments")).filter((f) =>
    /from\s+"(mongodb|@connectrpc\/[^"]+|@bufbuild\/[^"]+|[^"]*\/gen\/[^"]+|[^"]*\/server\/[^"]+|[^"]*\/store\/[^"]+)"/.test(readFileSync(f, "utf8")),
  );
  expect(offenders.map((f) => relative(src, f))).toEqual([]);
});

test("a connector sees no domain internals and no other connector", () => {
  const offenders = files(join(src, "psp")).filter((f) => /from\s+"[^"]*\/(payments|server|store|callbacks)\/[^"]+"/.test(readFileSync(f, "utf8")));
  expect(offenders.map((f) => relative(src, f))).toEqual([]);
});
