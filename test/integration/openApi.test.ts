import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { getOption, hasOption } from "@bufbuild/protobuf";
import { compileErrors, validate } from "@readme/openapi-parser";
import Ajv2020 from "ajv/dist/2020";
import { genstore_id } from "../../gen/genstore/payment/v1/options_pb";
import { paymentServiceRoutes } from "../../gen/genstore/payment/v1/payment_service_routes";
import { FieldBehavior, field_behavior } from "../../gen/google/api/field_behavior_pb";
import { rawRequest, startTestServer, type TestServer } from "../helpers/testServer";

type Json = Record<string, unknown>;
interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: { content: { "application/json": { schema: { $ref: string }; examples?: Record<string, { value: unknown }> } } };
  responses: Record<string, { content?: { "application/json": { schema: { $ref: string }; examples?: Record<string, { value: unknown }> } } }>;
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json> } };

const committed = readFileSync(resolve(__dirname, "../../gen/genstore/payment/v1/payment_service.openapi.json"), "utf8");
let server: TestServer;
let served: Document;

beforeAll(async () => {
  server = await startTestServer();
  const res = await fetch(`${server.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  served = (await res.json()) as Document;
});
afterAll(async () => {
  await server.stop();
});

type Route = (typeof paymentServiceRoutes)[number];

/** A route table pattern as OpenAPI writes it: "/genstore/v1/payments/{paymentId}". */
const pathOf = (r: Route) => r.pattern.replace(/\{([a-z_]+)\}/g, (_m, name: string) => `{${r.method.input.fields.find((f) => f.name === name)!.jsonName}}`);
const tableRoutes = () => paymentServiceRoutes.map((r) => `${r.verb} ${pathOf(r)}`);

const documentRoutes = (doc: Document) => Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((verb) => `${verb.toUpperCase()} ${path}`));

test("GET /openapi.json serves the committed document, and it is valid OpenAPI 3.1", async () => {
  expect(served).toEqual(JSON.parse(committed));
  expect(served.openapi).toBe("3.1.0");
  const result = await validate(structuredClone(served) as never);
  if (!result.valid) throw new Error(compileErrors(result));
  expect(result.warnings).toEqual([]);
});

test("the document describes exactly the routes of the generated route table, and the server answers each", async () => {
  expect(documentRoutes(served).sort()).toEqual(tableRoutes().sort());
  for (const route of documentRoutes(served)) {
    const [verb, path] = route.split(" ") as [string, string];
    const res = await rawRequest(`${server.url}${path.replace(/\{\w+\}/g, "PI-1")}`, verb, verb === "POST" ? "{}" : undefined);
    // The route is served (no 404 or 405): an empty request is refused for what it lacks, a path id is looked up.
    const expected = path.includes("{") ? [200, expect.stringMatching(/^Not found \w+ information\.$/)] : [400, expect.stringMatching(/ is required$/)];
    expect([route, res.status, res.body.error]).toEqual([route, ...expected]);
  }
});

test("a concrete path is never taken for a path variable, as OpenAPI matches paths", async () => {
  // /genstore/v1/payments/card is the card route, not Get payment of a payment named "card".
  for (const path of ["/genstore/v1/payments/card", "/genstore/v1/payments/offsite"]) {
    const res = await rawRequest(`${server.url}${path}`, "GET");
    expect([path, res.status, res.headers.allow]).toEqual([path, 405, "POST"]);
  }
  expect((await rawRequest(`${server.url}/genstore/v1/payments/card-1`, "PUT")).headers.allow).toBe("GET");
  expect((await rawRequest(`${server.url}/genstore/v1/refunds`, "PUT")).headers.allow).toBe("POST, GET");
});

test("every request schema requires exactly the proto's REQUIRED fields and carries the Genstore id pattern", () => {
  for (const route of paymentServiceRoutes) {
    const op = served.paths[pathOf(route)]![route.verb.toLowerCase()]!;
    const input = route.method.input;
    const required = input.fields.filter((f) => hasOption(f, field_behavior) && getOption(f, field_behavior).includes(FieldBehavior.REQUIRED));
    if (route.body === "*") {
      const schema = served.components.schemas[op.requestBody!.content["application/json"].schema.$ref.split("/").pop()!]!;
      expect([input.name, schema.required]).toEqual([input.name, required.map((f) => f.jsonName)]);
      const props = schema.properties as Record<string, { pattern?: string }>;
      for (const f of input.fields.filter((x) => hasOption(x, genstore_id) && getOption(x, genstore_id))) expect(props[f.jsonName]?.pattern).toMatch(/^\^/);
    } else {
      const params = op.parameters ?? [];
      expect(params.filter((p) => p.required).map((p) => p.name)).toEqual(required.map((f) => f.jsonName));
    }
  }
});

test("the API page's examples in the document are valid against the schemas they illustrate", () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: "doc", components: served.components } as Json);
  let checked = 0;
  for (const ops of Object.values(served.paths)) {
    for (const op of Object.values(ops)) {
      const bodies = [op.requestBody?.content["application/json"], ...Object.values(op.responses).map((r) => r.content?.["application/json"])];
      for (const body of bodies) {
        for (const [name, example] of Object.entries(body?.examples ?? {})) {
          const check = ajv.compile({ $ref: `doc${body!.schema.$ref}` });
          expect([op.operationId, name, check(example.value) ? [] : check.errors]).toEqual([op.operationId, name, []]);
          checked++;
        }
      }
    }
  }
  expect(checked).toBeGreaterThanOrEqual(2 * paymentServiceRoutes.length);
});

describe("GET /docs", () => {
  test("serves a page whose every script and stylesheet comes from this service, under a policy that says so", async () => {
    const res = await fetch(`${server.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'; script-src 'self';/);
    const html = await res.text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs).toEqual(expect.arrayContaining(["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js"]));
    for (const ref of refs) {
      const asset = await fetch(`${server.url}${ref}`);
      expect([ref, asset.status]).toEqual([ref, 200]);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    const init = await (await fetch(`${server.url}/docs/init.js`)).text();
    expect(init).toContain('url: "/openapi.json"');
    expect(init).toContain("validatorUrl: null");
  });

  test("serves nothing else of the viewer's package, nor anything outside it", async () => {
    for (const path of ["/docs/index.html", "/docs/package.json", "/docs/..%2F..%2Fpackage.json", "/docs/swagger-ui-bundle.js.map"]) {
      expect([path, (await rawRequest(`${server.url}${path}`, "GET")).status]).toEqual([path, 404]);
    }
    expect((await rawRequest(`${server.url}/openapi.json`, "POST", "{}")).status).toBe(405);
  });
});
