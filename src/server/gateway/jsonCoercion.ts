import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { invalidArgument } from "../../payments/errors.js";

const MAX_DEPTH = 16;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function enumValue(e: DescEnum, v: unknown, path: string): Json {
  if (typeof v === "number" && e.values.some((x) => x.number === v)) return v;
  if (typeof v === "string") {
    const found = e.values.find((x) => x.name === v || x.localName === v);
    if (found) return found.name;
  }
  throw invalidArgument(`${path} must be one of ${e.values.map((x) => x.localName).join(", ")}`);
}

function scalar(type: ScalarType, v: unknown, path: string): Json {
  switch (type) {
    case ScalarType.BOOL:
      if (typeof v === "boolean") return v;
      // Genstore sends booleans as "true" / "false" strings (decisions.md D2).
      if (typeof v === "string" && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === "true";
      throw invalidArgument(`${path} must be true or false`);
    case ScalarType.STRING:
      if (typeof v === "string") return v;
      if (typeof v === "number" && Number.isFinite(v)) return String(v);
      if (typeof v === "boolean") return String(v);
      throw invalidArgument(`${path} must be a string`);
    case ScalarType.BYTES:
      if (typeof v === "string") return v;
      throw invalidArgument(`${path} must be a base64 string`);
    default:
      if ((typeof v === "number" && Number.isFinite(v)) || (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim()))) return v;
      throw invalidArgument(`${path} must be a number`);
  }
}

function single(field: DescField, kind: "scalar" | "enum" | "message", v: unknown, path: string, depth: number): Json {
  switch (kind) {
    case "scalar":
      return scalar((field as { scalar: ScalarType }).scalar, v, path);
    case "enum":
      return enumValue((field as { enum: DescEnum }).enum, v, path);
    case "message":
      return normalizeJson((field as { message: DescMessage }).message, v, path, depth + 1);
  }
}

/**
 * Checks a Genstore JSON value against a message schema and returns proto3 JSON that
 * fromJson accepts: unknown fields dropped, string booleans and unprefixed enum names
 * accepted, numbers allowed for strings. Errors name the field by its JSON path.
 */
export function normalizeJson(desc: DescMessage, value: unknown, path = "", depth = 0): { [k: string]: Json } {
  const where = path || "request body";
  if (depth > MAX_DEPTH) throw invalidArgument(`${where} is nested too deeply`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidArgument(`${where} must be a JSON object`);
  const out: { [k: string]: Json } = {};
  for (const [key, v] of Object.entries(value)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field || v === null || v === undefined) continue;
    const p = path ? `${path}.${field.jsonName}` : field.jsonName;
    switch (field.fieldKind) {
      case "scalar":
      case "enum":
      case "message":
        out[field.jsonName] = single(field, field.fieldKind, v, p, depth);
        break;
      case "list":
        if (!Array.isArray(v)) throw invalidArgument(`${p} must be an array`);
        out[field.jsonName] = v.map((item, i) => single(field, field.listKind, item, `${p}[${i}]`, depth));
        break;
      case "map": {
        if (typeof v !== "object" || Array.isArray(v)) throw invalidArgument(`${p} must be an object`);
        const m: { [k: string]: Json } = {};
        for (const [k, item] of Object.entries(v as object)) m[k] = single(field, field.mapKind, item, `${p}.${k}`, depth);
        out[field.jsonName] = m;
        break;
      }
    }
  }
  return out;
}

/** Rewrites enum values of proto3 JSON to Genstore's spelling ("PAYMENT_STATUS_SUCCESS" → "SUCCESS"). */
export function genstoreJson(desc: DescMessage, json: Json): Json {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return json;
  const out: { [k: string]: Json } = {};
  for (const [key, v] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key);
    if (field?.fieldKind === "enum" && typeof v === "string") {
      out[key] = field.enum.values.find((x) => x.name === v)?.localName ?? v;
    } else if (field?.fieldKind === "message") {
      out[key] = genstoreJson(field.message, v);
    } else if (field?.fieldKind === "list" && field.listKind === "message" && Array.isArray(v)) {
      out[key] = v.map((item) => genstoreJson(field.message, item));
    } else {
      out[key] = v;
    }
  }
  return out;
}
