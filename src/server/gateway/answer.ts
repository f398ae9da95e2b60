import { create, toJson, type DescMessage, type Message } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { domainErrorOf, errorAnswers, httpStatusOf, RETRY_AFTER_UNAVAILABLE_S, toConnectError } from "../errorMapping.js";
import { HttpError } from "../httpJson.js";
import { genstoreJson } from "./jsonCoercion.js";

/** An answer of the Genstore JSON routes: its HTTP status, body and extra headers. */
export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  /** What went wrong, for the log line ("" when nothing did). */
  error: string;
}

/** Every documented field of the output, empty ones included, enum values in Genstore's words. */
export function fullAnswer(output: DescMessage, message: Message): Record<string, unknown> {
  return genstoreJson(output, toJson(output, message, { alwaysEmitImplicit: true })) as Record<string, unknown>;
}

/**
 * A refusal of the payment rules, answered as the API page answers them: 200, every field,
 * `status` (where the method has one) PROCESSING, the reason in `error`.
 */
function refusal(output: DescMessage, error: string): Record<string, unknown> {
  const message = create(output) as Message & Record<string, unknown>;
  const status = output.fields.find((f) => f.localName === "status");
  if (status?.fieldKind === "enum") {
    const processing = status.enum.values.find((v) => v.localName === "PROCESSING");
    if (processing) message.status = processing.number;
  }
  return { ...fullAnswer(output, message), error };
}

/** Refusals a client should simply retry say when. */
function retryAfter(code: string): Record<string, string> {
  if (code === "rate_limited") return { "retry-after": "1" };
  if (code === "unavailable") return { "retry-after": String(RETRY_AFTER_UNAVAILABLE_S) };
  return {};
}

/** How a failed request is answered on the Genstore JSON routes (errorMapping.ts decides which way). */
export function errorAnswer(output: DescMessage, err: unknown): JsonAnswer & { unexpected: boolean } {
  if (err instanceof HttpError)
    return {
      status: err.status,
      body: { error: err.message },
      headers: err.status === 413 ? { connection: "close" } : {},
      error: err.message,
      unexpected: false,
    };
  const domain = domainErrorOf(err);
  if (domain) {
    const how = errorAnswers[domain.code].json;
    if (how === "answer") return { status: 200, body: refusal(output, domain.message), headers: {}, error: domain.message, unexpected: false };
    return {
      status: how,
      body: { error: domain.message },
      headers: retryAfter(domain.code),
      error: domain.message,
      unexpected: false,
    };
  }
  const ce = toConnectError(err);
  const status = httpStatusOf(ce.code);
  return { status, body: { error: ce.rawMessage }, headers: {}, error: ce.rawMessage, unexpected: status >= 500 && !(err instanceof ConnectError) };
}
