import { fromJson, type Message } from "@bufbuild/protobuf";
import { PaymentError, invalidArgument } from "../../payments/errors.js";
import { decodePathSegment, HttpError } from "../httpJson.js";
import { unauthenticated } from "../auth/genstoreSignature.js";
import { normalizeJson } from "./jsonCoercion.js";
import type { RouteBinding } from "./routeTable.js";

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined || value === "") return true; // absent: try to read it as JSON
  const type = value.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || type.endsWith("+json");
}

function parseBody(body: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (body.length === 0) return {};
  if (!isJsonContentType(contentType)) throw new HttpError(415, `content type ${contentType} is not supported: send application/json`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw invalidArgument(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw invalidArgument("request body must be a JSON object");
  return parsed as Record<string, unknown>;
}

/** Genstore's id for the operation a request names, for the request log line. */
function genstoreIdOf(json: Record<string, unknown>): string | undefined {
  for (const k of ["captureId", "voidId", "refundId", "paymentId"]) if (typeof json[k] === "string") return json[k] as string;
  return undefined;
}

export interface DecodedRequest {
  message: Message;
  genstoreId: string | undefined;
}

/**
 * A Genstore JSON request as the method's message: the JSON body, then (for a GET, whose
 * parameters the API page shows both ways) the query's scalar fields, then the path variables.
 */
export function decodeRequest(
  binding: RouteBinding,
  url: URL,
  params: Map<string, string>,
  body: Buffer,
  contentType: string | undefined,
  /** The request is authenticated by a signature over its body alone: nothing else may name a value. */
  bodySigned = false,
): DecodedRequest {
  const input = binding.method.input;
  const json: Record<string, unknown> = binding.body === "*" || body.length > 0 ? parseBody(body, contentType) : {};
  const set = (jsonName: string, value: string) => {
    if (bodySigned && json[jsonName] !== value) {
      throw unauthenticated(`X-Genstore-Hmac-Sha256 signs the body only: ${jsonName} in the path or query must be the body's`);
    }
    json[jsonName] = value;
  };
  if (binding.body !== "*") {
    for (const [k, v] of url.searchParams) {
      const field = input.fields.find((f) => f.jsonName === k || f.name === k);
      if (field && field.fieldKind === "scalar") set(field.jsonName, v);
    }
  }
  for (const [name, raw] of params) {
    const field = input.fields.find((f) => f.name === name);
    if (!field) continue;
    const value = decodePathSegment(raw);
    if (value === undefined) throw invalidArgument("malformed percent-encoding in the path");
    set(field.jsonName, value);
  }
  try {
    return { message: fromJson(input, normalizeJson(input, json), { ignoreUnknownFields: true }), genstoreId: genstoreIdOf(json) };
  } catch (err) {
    if (err instanceof PaymentError) throw err;
    throw invalidArgument(`request body does not match ${input.name}: ${(err as Error).message}`);
  }
}
