#!/usr/bin/env -S npx tsx
// A buf plugin: an OpenAPI 3.1 document (`<file>.openapi.json`) of the routes the
// google.api.http annotations of each service bind, as the Genstore JSON gateway serves them. The
// service answers GET /openapi.json with it; client generators, API explorers and contract
// fuzzers read it. Option `examples=<file>`: the API page's examples (JSON strings per operation).
import { readFileSync } from "node:fs";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createEcmaScriptPlugin, runNodeJs, type Schema } from "@bufbuild/protoplugin";
import { bindingsOf, findExtension, findHttpExtension, hasBindings, type Binding } from "./httpBindings.js";
import { describe, errorSchema, type FieldOptions } from "./openapi/jsonSchemas.js";
import { ruleSchemas, type JsonSchema } from "./openapi/fieldRules.js";
import { openApiPath, operation, type PageExamples } from "./openapi/operations.js";
import { securitySchemes } from "./openapi/security.js";

interface Options {
  examples?: string;
}

/** The API page's example keys (test/fixtures/apiPageExamples.json) of each method. */
const pageKeys: Record<string, string> = {
  CreateCardPayment: "cardPayment",
  CreateOffsitePayment: "offsitePayment",
  CapturePayment: "capture",
  VoidPayment: "void",
  RefundPayment: "refund",
  GetPayment: "getPayment",
  GetRefund: "getRefund",
};

function pageExamples(file: string | undefined, method: DescMethod): PageExamples {
  if (!file) return {};
  const all = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
  const key = pageKeys[method.name];
  return key ? { request: all[key], response: all[`${key}Answer`] } : {};
}

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** One operationId per binding: the method's name, then "By" and its path variables. */
function operationIds(method: DescMethod, bindings: Binding[]): string[] {
  return bindings.map((b, i) => {
    if (i === 0) return method.name;
    const vars = [...b.pattern.matchAll(/\{([a-z_][a-z0-9_]*)/g)].map((m) => method.input.fields.find((f) => f.name === m[1])?.jsonName ?? m[1] ?? "");
    return vars.length ? `${method.name}By${vars.map(pascal).join("And")}` : `${method.name}${i + 1}`;
  });
}

function document(schema: Schema<Options>, services: DescService[], options: Options): JsonSchema {
  const ext = findHttpExtension(schema)!;
  const fieldOptions: FieldOptions = {
    fieldBehavior: findExtension(schema, "google/api/field_behavior", "google.api.field_behavior"),
    genstoreId: findExtension(schema, "genstore/payment/v1/options", "genstore.payment.v1.genstore_id"),
  };
  const methods = services.flatMap((s) => s.methods.map((m) => ({ method: m, bindings: bindingsOf(m, ext) })));
  const ids = new Map(methods.map(({ method, bindings }) => [method.name, operationIds(method, bindings)]));
  const schemas: Record<string, JsonSchema> = {};
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const { method, bindings } of methods) {
    bindings.forEach((binding, i) => {
      const path = openApiPath(binding.pattern, method.input.fields);
      const operationId = ids.get(method.name)![i]!;
      const op = operation({
        method,
        binding,
        operationId,
        options: fieldOptions,
        schemas,
        examples: pageExamples(options.examples, method),
        operationIds: ids,
      });
      paths[path] = { ...paths[path], [binding.verb.toLowerCase()]: op };
    });
  }
  Object.assign(schemas, ruleSchemas(), { Error: errorSchema });
  const file = services[0]!.file;
  return {
    openapi: "3.1.0",
    info: {
      title: "Genstore payment extension: Genstore JSON routes",
      version: file.proto.package.split(".").pop() ?? "v1",
      description:
        "The routes Genstore calls on this payment extension, generated from the proto's google.api.http annotations. " +
        'Field names are the API page\'s; `test` and `manualCapture` may be JSON booleans or the strings "true"/"false"; ' +
        'amounts are decimal strings in major units ("200.00"); unknown fields are ignored. The same methods are served over ' +
        "Connect and gRPC as genstore.payment.v1.PaymentService.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    tags: services.map((s) => ({ name: s.name, ...(describe(s) ? { description: describe(s) } : {}) })),
    security: Object.keys(securitySchemes).map((name) => ({ [name]: [] })),
    paths,
    components: { schemas, securitySchemes },
  };
}

function generateTs(schema: Schema<Options>): void {
  const ext = findHttpExtension(schema);
  if (!ext) return;
  for (const file of schema.files) {
    const services = file.services.filter((s) => s.methods.some((m) => hasBindings(m, ext)));
    if (services.length === 0) continue;
    const f = schema.generateFile(`${file.name}.openapi.json`);
    f.print(JSON.stringify(document(schema, services, schema.options), null, 2));
  }
}

runNodeJs(
  createEcmaScriptPlugin<Options>({
    name: "protoc-gen-genstore-openapi",
    version: "v1",
    parseOptions(raw) {
      const out: Options = {};
      for (const { key, value } of raw) {
        if (key === "examples") out.examples = value;
        else throw new Error(`unknown option ${key}`);
      }
      return out;
    },
    generateTs,
  }),
);
