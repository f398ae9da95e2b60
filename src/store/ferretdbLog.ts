type Level = "debug" | "info" | "warn" | "error";

/** Go slog's level names; "WARN+2" and the like are offsets from them. */
const slogLevels: Record<string, number> = { DEBUG: -4, INFO: 0, WARN: 4, ERROR: 8 };

function levelOf(slog: unknown): Level {
  const m = /^(DEBUG|INFO|WARN|ERROR)([+-]\d+)?$/.exec(String(slog));
  const n = m?.[1] ? (slogLevels[m[1]] ?? 8) + Number(m[2] ?? 0) : 8;
  return n < 0 ? "debug" : n < 4 ? "info" : n < 8 ? "warn" : "error";
}

/** A client that went away: our driver closing its pool, or a process that stopped. */
const clientGone = /connection reset by peer|EOF|use of closed network connection|broken pipe/;

/**
 * Lines FerretDB logs at warn that say nothing an operator can act on; kept at debug:
 * - the dump of every failed command ("Response header/message"): the error reaches our code
 *   through the driver anyway, and every clean stop fails one (the driver's endSessions, which
 *   FerretDB 1.24 does not implement);
 * - a client connection ending with a reset or EOF (the driver closing its pool at a stop).
 */
function expected(level: Level, msg: string, attrs: Record<string, unknown>): boolean {
  if (level !== "warn") return false;
  if (/^Response (header|message):/.test(msg)) return true;
  return msg === "Connection stopped" && clientGone.test(String(attrs.error ?? ""));
}

/**
 * One line of the launcher's stderr as our log entry: its JSON (Go slog) records keep their
 * level, expected noise goes to debug, and anything else it prints (a start-up failure, a
 * panic) is an error.
 */
export function ferretdbLogEntry(line: string): Record<string, unknown> {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    record = undefined;
  }
  if (typeof record !== "object" || record === null || Array.isArray(record))
    return { level: "error", msg: line.startsWith("ferretdb: ") ? line : `ferretdb: ${line}` };
  const { time: _time, level: slogLevel, msg, ...attrs } = record as Record<string, unknown>;
  const text = String(msg ?? "");
  const level = levelOf(slogLevel);
  return {
    level: expected(level, text, attrs) ? "debug" : level,
    msg: `ferretdb: ${text}`,
    ...(Object.keys(attrs).length ? { ferretdb: attrs } : {}),
  };
}
