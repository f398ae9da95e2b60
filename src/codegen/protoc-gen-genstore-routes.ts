#!/usr/bin/env -S npx tsx
// A buf plugin: turns the google.api.http annotations of each service into a route table
// (`<file>_routes.ts`) that src/gateway serves. The proto stays the only place a route is written.
import { createEcmaScriptPlugin, runNodeJs, type Schema } from "@bufbuild/protoplugin";
import { bindingsOf, findHttpExtension, hasBindings } from "./httpBindings.js";

function generateTs(schema: Schema): void {
  const ext = findHttpExtension(schema);
  if (!ext) return;
  for (const file of schema.files) {
    const services = file.services.filter((s) => s.methods.some((m) => hasBindings(m, ext)));
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
