#!/usr/bin/env -S npx tsx
// A buf plugin: turns the google.api.http annotations of each service into a route table
// (`<file>_routes.ts`) that src/gateway serves. The proto stays the only place a route is written.
import type { DescExtension, DescMessage, DescMethod } from "@bufbuild/protobuf";
import { getOption, hasOption } from "@bufbuild/protobuf";
import type { GenExtension } from "@bufbuild/protobuf/codegenv2";
import { reflect } from "@bufbuild/protobuf/reflect";
import type { MethodOptions } from "@bufbuild/protobuf/wkt";
import { createEcmaScriptPlugin, runNodeJs, type Schema } from "@bufbuild/protoplugin";

interface Binding {
  verb: string;
  pattern: string;
  body: string;
}

function findHttpExtension(schema: Schema): DescExtension | undefined {
  for (const file of schema.allFiles) {
    if (file.name !== "google/api/annotations") continue;
    return file.extensions.find((e) => e.typeName === "google.api.http");
  }
  return undefined;
}

const verbs = ["get", "put", "post", "delete", "patch"] as const;

// Reads one google.api.HttpRule (a dynamic message: the plugin has no generated type for it).
function readRule(desc: DescMessage, rule: unknown, out: Binding[]): void {
  const r = reflect(desc, rule as never);
  const field = (name: string) => {
    const f = desc.fields.find((x) => x.name === name);
    if (!f) throw new Error(`google.api.HttpRule has no field ${name}`);
    return f;
  };
  let found = false;
  for (const verb of verbs) {
    const f = field(verb);
    if (!r.isSet(f)) continue;
    out.push({ verb: verb.toUpperCase(), pattern: String(r.get(f)), body: String(r.get(field("body")) ?? "") });
    found = true;
  }
  if (!found) throw new Error("only get, put, post, delete and patch bindings are supported");
  const extra = field("additional_bindings");
  const list = r.get(extra) as unknown as { size: number; get(i: number): unknown };
  for (let i = 0; i < list.size; i++) {
    const item = list.get(i) as { message: unknown };
    readRule(desc, item.message, out);
  }
}

type MethodExtension = GenExtension<MethodOptions, unknown>;

function bindingsOf(method: DescMethod, ext: DescExtension): Binding[] {
  const option = ext as unknown as MethodExtension;
  if (!hasOption(method, option)) return [];
  const rule = getOption(method, option);
  if (ext.fieldKind !== "message") throw new Error("google.api.http is not a message extension");
  const out: Binding[] = [];
  readRule(ext.message, rule, out);
  return out;
}

function generateTs(schema: Schema): void {
  const ext = findHttpExtension(schema);
  if (!ext) return;
  for (const file of schema.files) {
    const services = file.services.filter((s) => s.methods.some((m) => hasOption(m, ext as unknown as MethodExtension)));
    if (services.length === 0) continue;
    const f = schema.generateFile(file.name + "_routes.ts");
    f.preamble(file);
    for (const service of services) {
      const svc = f.importSchema(service);
      const name = service.name.charAt(0).toLowerCase() + service.name.slice(1) + "Routes";
      f.print("/** HTTP bindings of ", service.typeName, ", from its google.api.http annotations. */");
      f.print(f.export("const", name), " = [");
      for (const method of service.methods) {
        for (const b of bindingsOf(method, ext)) {
          f.print(
            "  { verb: ",
            f.string(b.verb),
            ", pattern: ",
            f.string(b.pattern),
            ", body: ",
            f.string(b.body),
            ", method: ",
            svc,
            ".method.",
            method.localName,
            " },",
          );
        }
      }
      f.print("] as const;");
    }
  }
}

runNodeJs(
  createEcmaScriptPlugin({
    name: "protoc-gen-genstore-routes",
    version: "v1",
    generateTs,
  }),
);
