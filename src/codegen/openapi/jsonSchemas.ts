// JSON Schemas (OpenAPI 3.1 dialect) of the messages a Genstore JSON route reads and answers,
// from their descriptors: the JSON names Genstore uses, REQUIRED field behaviours, genstore_id
// patterns and the proto's comments.
import { ScalarType, type DescEnum, type DescExtension, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { getComments } from "@bufbuild/protoplugin";
import { genstoreIdPattern, genstoreIdRule } from "../../payments/genstoreIds.js";
import { fieldOption } from "../httpBindings.js";
import { booleanText, currencyRules, nonBlank, ruleOf, type JsonSchema } from "./fieldRules.js";

/** The options a schema reads: google.api.field_behavior and our genstore_id. */
export interface FieldOptions {
  fieldBehavior: DescExtension | undefined;
  genstoreId: DescExtension | undefined;
}

const REQUIRED = 2; // google.api.FieldBehavior.REQUIRED

/** A comment as documentation: the lines joined, whitespace kept only where it separates words. */
export function describe(desc: Parameters<typeof getComments>[0]): string | undefined {
  const text = getComments(desc).leading?.trim();
  return text ? text.replace(/\s*\n\s*/g, " ") : undefined;
}

export function isRequired(field: DescField, opts: FieldOptions): boolean {
  return (fieldOption<number[]>(field, opts.fieldBehavior) ?? []).includes(REQUIRED);
}

export function isGenstoreId(field: DescField, opts: FieldOptions): boolean {
  return fieldOption<boolean>(field, opts.genstoreId) === true;
}

const ref = (desc: DescMessage) => ({ $ref: `#/components/schemas/${desc.name}` });

function withDescription(schema: JsonSchema, field: DescField, extra?: string): JsonSchema {
  const text = [describe(field), extra].filter(Boolean).join(" ");
  return text ? { description: text, ...schema } : schema;
}

/** A Genstore id, as the JSON body carries it (numbers and booleans are read as their text). */
export const idSchema: JsonSchema = { type: ["string", "number", "boolean"], pattern: genstoreIdPattern.source };
export const idDescription = `A Genstore id: ${genstoreIdRule}.`;

function requestScalar(field: DescField & { fieldKind: "scalar" }, required: boolean, opts: FieldOptions, hasCurrency: boolean): JsonSchema {
  const orNull = (types: string[]) => (required ? types : [...types, "null"]);
  if (isGenstoreId(field, opts)) return withDescription(idSchema, field, idDescription);
  const rule = ruleOf(field.name, required, hasCurrency);
  if (rule) return withDescription(rule, field);
  switch (field.scalar) {
    case ScalarType.BOOL:
      return withDescription({ type: orNull(["boolean", "string"]), pattern: booleanText }, field, 'A JSON boolean or the string "true" or "false".');
    case ScalarType.STRING:
      // jsonCoercion.ts reads a number or a boolean sent for a string as its text.
      return withDescription({ type: orNull(["string", "number", "boolean"]), ...(required ? { pattern: nonBlank } : {}) }, field);
    default:
      throw new Error(`${field.parent.typeName}.${field.name}: no JSON Schema for scalar type ${ScalarType[field.scalar]} in a Genstore request`);
  }
}

/** A request message and every message it holds, into `out` (components.schemas). */
export function requestSchema(desc: DescMessage, opts: FieldOptions, out: Record<string, JsonSchema>): JsonSchema {
  if (out[desc.name]) return ref(desc);
  out[desc.name] = {}; // claimed before the fields, so that a recursive message ends
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const hasCurrency = desc.fields.some((f) => f.name === "currency");
  for (const field of desc.fields) {
    const isReq = isRequired(field, opts);
    if (isReq) required.push(field.jsonName);
    switch (field.fieldKind) {
      case "scalar":
        properties[field.jsonName] = requestScalar(field, isReq, opts, hasCurrency);
        break;
      case "message": {
        const r = requestSchema(field.message, opts, out);
        properties[field.jsonName] = withDescription(isReq ? r : { anyOf: [r, { type: "null" }] }, field);
        break;
      }
      case "list":
        if (field.listKind !== "message") throw new Error(`${desc.typeName}.${field.name}: only lists of messages are supported`);
        properties[field.jsonName] = withDescription({ type: isReq ? "array" : ["array", "null"], items: requestSchema(field.message, opts, out) }, field);
        break;
      default:
        throw new Error(`${desc.typeName}.${field.name}: ${field.fieldKind} fields are not supported in a Genstore request`);
    }
  }
  const schema: JsonSchema = { type: "object" };
  const text = describe(desc);
  if (text) schema.description = text;
  schema.properties = properties;
  if (required.length) schema.required = required;
  if (hasCurrency && properties.amount) schema.allOf = currencyRules();
  out[desc.name] = schema;
  return ref(desc);
}

/** Enum values in Genstore's words (PAYMENT_STATUS_SUCCESS is "SUCCESS"); the zero value is never answered. */
export function enumWords(e: DescEnum): string[] {
  return e.values.filter((v) => v.number !== 0).map((v) => v.localName);
}

/** An answer: every field present (empty strings included), nothing else. */
export function responseSchema(desc: DescMessage, out: Record<string, JsonSchema>): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const field of desc.fields) {
    if (field.fieldKind === "scalar" && field.scalar === ScalarType.STRING) properties[field.jsonName] = withDescription({ type: "string" }, field);
    else if (field.fieldKind === "enum")
      properties[field.jsonName] = withDescription({ type: "string", enum: enumWords(field.enum) }, field, describe(field.enum));
    else throw new Error(`${desc.typeName}.${field.name}: only strings and enums are supported in a Genstore answer`);
  }
  const schema: JsonSchema = { type: "object" };
  const text = describe(desc);
  if (text) schema.description = text;
  Object.assign(schema, { properties, required: desc.fields.map((f) => f.jsonName), additionalProperties: false });
  out[desc.name] = schema;
  return ref(desc);
}

/** The body of every HTTP error. */
export const errorSchema: JsonSchema = {
  type: "object",
  description: "An HTTP error: what is wrong, naming the field where there is one.",
  properties: { error: { type: "string", minLength: 1 } },
  required: ["error"],
  additionalProperties: false,
};
