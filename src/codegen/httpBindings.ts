// The google.api.http annotations of a method, read from the descriptors buf hands a plugin. The
// plugin has no generated type for google.api.HttpRule, so it is read as a dynamic message.
import type { DescExtension, DescField, DescMessage, DescMethod } from "@bufbuild/protobuf";
import { getOption, hasOption } from "@bufbuild/protobuf";
import type { GenExtension } from "@bufbuild/protobuf/codegenv2";
import { reflect } from "@bufbuild/protobuf/reflect";
import type { FieldOptions, MethodOptions } from "@bufbuild/protobuf/wkt";
import type { Schema } from "@bufbuild/protoplugin";

export interface Binding {
  verb: string;
  pattern: string;
  body: string;
}

/** An extension declared in one of the files buf passed along (imports included). */
export function findExtension(schema: Schema, file: string, typeName: string): DescExtension | undefined {
  for (const f of schema.allFiles) {
    if (f.name !== file) continue;
    return f.extensions.find((e) => e.typeName === typeName);
  }
  return undefined;
}

export function findHttpExtension(schema: Schema): DescExtension | undefined {
  return findExtension(schema, "google/api/annotations", "google.api.http");
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

/** Whether the method has a google.api.http annotation. */
export function hasBindings(method: DescMethod, ext: DescExtension): boolean {
  return hasOption(method, ext as unknown as MethodExtension);
}

/** The method's HTTP bindings: the rule, then its additional_bindings, in the proto's order. */
export function bindingsOf(method: DescMethod, ext: DescExtension): Binding[] {
  const option = ext as unknown as MethodExtension;
  if (!hasOption(method, option)) return [];
  const rule = getOption(method, option);
  if (ext.fieldKind !== "message") throw new Error("google.api.http is not a message extension");
  const out: Binding[] = [];
  readRule(ext.message, rule, out);
  return out;
}

/** A field option's value, read through an extension found in the schema; undefined when unset. */
export function fieldOption<T>(field: DescField, ext: DescExtension | undefined): T | undefined {
  if (!ext) return undefined;
  const option = ext as unknown as GenExtension<FieldOptions, T>;
  return hasOption(field, option) ? getOption(field, option) : undefined;
}
