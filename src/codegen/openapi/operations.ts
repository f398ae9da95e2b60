// OpenAPI operations of the Genstore JSON routes, one per google.api.http binding: parameters,
// request body, every answer the gateway gives (src/server/gateway/answer.ts and errorMapping.ts),
// the API page's examples, and links between operations that follow a payment's life.
import type { DescField, DescMethod } from "@bufbuild/protobuf";
import type { Binding } from "../httpBindings.js";
import { describe, idDescription, idSchema, isRequired, requestSchema, responseSchema, type FieldOptions } from "./jsonSchemas.js";
import type { JsonSchema } from "./fieldRules.js";
import { linksOf } from "./links.js";

/** The API page's examples for a method: its request body and its answer, as JSON text. */
export interface PageExamples {
  request?: string;
  response?: string;
}

export interface OperationInput {
  method: DescMethod;
  binding: Binding;
  operationId: string;
  options: FieldOptions;
  schemas: Record<string, JsonSchema>;
  examples: PageExamples;
  /** Every method's operationIds, in the order of its bindings (for links). */
  operationIds: Map<string, string[]>;
}

const errorBody = (example: string) => ({
  "application/json": { schema: { $ref: "#/components/schemas/Error" }, example: { error: example } },
});

/** What the gateway answers before a request reaches the payment rules. */
function errorResponses(): Record<string, JsonSchema> {
  return {
    "400": {
      description: "Malformed JSON, a mistyped or missing field, or a value that breaks a rule. Nothing was done.",
      content: errorBody("paymentId is required"),
    },
    "401": {
      description: "The request is not signed, or its signature or timestamp does not hold.",
      content: errorBody("the hmac parameter does not match the request"),
    },
    "403": { description: "A shop this deployment does not serve, or a caller not allowed to act for it.", content: errorBody("unknown shop") },
    "413": { description: "A body over MAX_BODY_BYTES (64 KiB by default).", content: errorBody("request body is larger than 65536 bytes") },
    "415": { description: "A body that is not JSON.", content: errorBody("content type text/plain is not supported: send application/json") },
    "429": {
      description: "Too many requests from this address or for this shop: retry after the given seconds.",
      headers: { "Retry-After": { description: "Seconds to wait.", required: true, schema: { type: "string", pattern: "^[0-9]+$" } } },
      content: errorBody("too many requests from this address; slow down and retry"),
    },
    "5XX": { description: "Our fault or a dependency down; safe to retry with the same id.", content: errorBody("internal error") },
  };
}

const answerText =
  "Every field of the answer is present (empty strings when unset). A refusal by the payment rules " +
  "(unknown payment, a state or an amount that does not allow the operation, an id reused with other " +
  "parameters, a test/live mismatch) is also a 200, with the reason in `error`";

/** The 200 answer, with the API page's example and a refusal. */
function okResponse(input: OperationInput): JsonSchema {
  const { method } = input;
  const hasStatus = method.output.fields.some((f) => f.fieldKind === "enum");
  const examples: Record<string, JsonSchema> = {};
  if (input.examples.response) examples.apiPage = { summary: "The API page's example", value: JSON.parse(input.examples.response) };
  const refusal: Record<string, string> = {};
  for (const f of method.output.fields) refusal[f.jsonName] = f.fieldKind === "enum" ? "PROCESSING" : "";
  // What an unknown id gets (getPayment.ts, getRefund.ts, runOperation.ts).
  refusal.error = hasStatus ? `Not found ${method.name.replace(/^Get/, "").toLowerCase()} information.` : "payment PI-1 not found";
  examples.refused = { summary: "Refused by the payment rules", value: refusal };
  return {
    description: `${answerText}${hasStatus ? " and `status` PROCESSING" : ""}.`,
    content: { "application/json": { schema: responseSchema(method.output, input.schemas), examples } },
    ...linksOf(input),
  };
}

/** A path variable ({payment_id}) as OpenAPI writes it, under the field's JSON name. */
export function openApiPath(pattern: string, fields: readonly DescField[]): string {
  return pattern.replace(/\{([a-z_][a-z0-9_]*)(=\*)?\}/g, (_m, name: string) => `{${fields.find((f) => f.name === name)?.jsonName ?? name}}`);
}

/** Path variables, then (for a route without a body) the other scalar fields as query parameters. */
function parameters(input: OperationInput): JsonSchema[] {
  const { method, binding } = input;
  const inPath = [...binding.pattern.matchAll(/\{([a-z_][a-z0-9_]*)/g)].map((m) => m[1]);
  const out: JsonSchema[] = [];
  const example = input.examples.request ? (JSON.parse(input.examples.request) as Record<string, unknown>) : {};
  for (const field of method.input.fields) {
    if (field.fieldKind !== "scalar") continue;
    const where = inPath.includes(field.name) ? "path" : binding.body === "*" ? undefined : "query";
    if (!where) continue;
    out.push({
      name: field.jsonName,
      in: where,
      required: where === "path" || isRequired(field, input.options),
      description: [describe(field), idDescription].filter(Boolean).join(" "),
      // As in a body, a number or a boolean (from a link, say) is read as its text.
      schema: idSchema,
      ...(example[field.jsonName] !== undefined ? { example: example[field.jsonName] } : {}),
    });
  }
  return out;
}

/** "true or false" is the page's placeholder, not a value: the example says "true". */
function pageRequestExample(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => (v === "true or false" ? "true" : v));
}

export function operation(input: OperationInput): JsonSchema {
  const { method, binding } = input;
  const [summary, ...rest] = (describe(method) ?? method.name).split(/(?<=\.)\s+/);
  const op: JsonSchema = {
    operationId: input.operationId,
    summary: summary?.replace(/\.$/, ""),
    ...(rest.length ? { description: rest.join(" ") } : {}),
    tags: [method.parent.name],
  };
  const params = parameters(input);
  if (params.length) op.parameters = params;
  if (binding.body === "*") {
    const schema = requestSchema(method.input, input.options, input.schemas);
    const examples = input.examples.request
      ? { apiPage: { summary: 'The API page\'s example (its "true or false" placeholders written "true")', value: pageRequestExample(input.examples.request) } }
      : undefined;
    op.requestBody = { required: true, content: { "application/json": { schema, ...(examples ? { examples } : {}) } } };
  } else {
    op.description = [op.description, "The parameters may also come as a JSON body, as the API page shows them."].filter(Boolean).join(" ");
  }
  op.responses = { "200": okResponse(input), ...errorResponses() };
  return op;
}
