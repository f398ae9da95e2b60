import { createHttpPut, type HttpPut, type PutAnswer } from "./httpPut.js";

/** What one HTTP attempt at a callback came to. */
export type DeliveryResult =
  | { kind: "delivered"; httpStatus: number; durationMs: number }
  | { kind: "retry"; httpStatus?: number; error: string; retryAfterMs?: number; durationMs: number }
  | { kind: "refused"; httpStatus: number; error: string; durationMs: number };

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** One client for every callback (its connections are kept alive between them). */
const defaultPut = createHttpPut();

/**
 * PUTs one result to Genstore. Network errors, timeouts, 408, 429 and 5xx are worth retrying;
 * any other non-2xx (3xx included: we never follow redirects with a token) is refused.
 */
export async function deliverCallback(url: string, body: unknown, accessToken: string, timeoutMs: number, put: HttpPut = defaultPut): Promise<DeliveryResult> {
  const started = Date.now();
  let res: PutAnswer;
  try {
    const headers = { "content-type": "application/json", "x-genstore-access-token": accessToken, "user-agent": "genstore-payment-app" };
    res = await put(url, headers, JSON.stringify(body), timeoutMs);
  } catch (err) {
    const e = err as Error;
    const error = e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : `network error: ${e.message}`;
    return { kind: "retry", error, durationMs: Date.now() - started };
  }
  const durationMs = Date.now() - started;
  if (res.status >= 200 && res.status < 300) return { kind: "delivered", httpStatus: res.status, durationMs };
  const error = `HTTP ${res.status}${res.text ? `: ${res.text}` : ""}`;
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    const retryAfterMs = parseRetryAfter(res.retryAfter, Date.now());
    return { kind: "retry", httpStatus: res.status, error, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), durationMs };
  }
  return { kind: "refused", httpStatus: res.status, error, durationMs };
}
