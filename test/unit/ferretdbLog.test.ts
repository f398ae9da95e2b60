import { ferretdbLogEntry } from "../../src/store/ferretdbLog";

// Lines as FerretDB 1.24 writes them through our launcher's slog JSON handler.
const record = (fields: Record<string, unknown>) => JSON.stringify({ time: "2026-11-30T06:00:18.075Z", ...fields });

test.each([
  ["DEBUG", "debug"],
  ["INFO", "info"],
  ["WARN", "warn"],
  ["ERROR", "error"],
  ["DEBUG+2", "debug"],
  ["INFO+4", "warn"],
  ["WARN-2", "info"],
  ["ERROR+4", "error"],
])("slog level %s is our %s", (slog, ours) => {
  expect(ferretdbLogEntry(record({ level: slog, msg: "Listener started", name: "listener" }))).toEqual({
    level: ours,
    msg: "ferretdb: Listener started",
    ferretdb: { name: "listener" },
  });
});

test("the dumps of a failed command (every stop's endSessions) go to debug", () => {
  const header = record({ level: "WARN", msg: "Response header: length:   121, id:   16, response_to:   17, opcode: OP_MSG", name: "// 127.0.0.1:46958 -> " });
  const body = record({ level: "WARN", msg: `Response message:\n{"Sections": [{"Document": {"ok": 0.0, "errmsg": "no such command: 'endSessions'"}}]}` });
  expect(ferretdbLogEntry(header).level).toBe("debug");
  expect(ferretdbLogEntry(body)).toMatchObject({ level: "debug", msg: expect.stringContaining("endSessions") });
  // A dump that also closed the connection is FerretDB's error, and stays one.
  expect(ferretdbLogEntry(record({ level: "ERROR", msg: "Response header: length: 1" })).level).toBe("error");
});

test("a client connection ending with a reset or EOF goes to debug; other connection errors stay warnings", () => {
  const stopped = (error: string) => record({ level: "WARN", msg: "Connection stopped", name: "listener", conn: "127.0.0.1:46958 -> 127.0.0.1:32901", error });
  expect(ferretdbLogEntry(stopped("read tcp 127.0.0.1:32901->127.0.0.1:46958: read: connection reset by peer")).level).toBe("debug");
  expect(ferretdbLogEntry(stopped("[msg_header.go:68 wire.(*MsgHeader).readFrom] expected 16, read 0: EOF")).level).toBe("debug");
  expect(ferretdbLogEntry(stopped("[conn.go:412] invalid message length")).level).toBe("warn");
  expect(ferretdbLogEntry(record({ level: "WARN", msg: "Failed to create connection", error: "EOF" })).level).toBe("warn");
});

test("what is not a slog record (the launcher's own failure, a panic) is an error", () => {
  expect(ferretdbLogEntry("ferretdb: cannot create /data/ferretdb: permission denied")).toEqual({
    level: "error",
    msg: "ferretdb: cannot create /data/ferretdb: permission denied",
  });
  expect(ferretdbLogEntry("goroutine 1 [running]:")).toEqual({ level: "error", msg: "ferretdb: goroutine 1 [running]:" });
  expect(ferretdbLogEntry("[1,2]").level).toBe("error");
  // No fields of the record can overwrite ours.
  expect(ferretdbLogEntry(record({ level: "INFO", msg: "x", time: "t" }))).toEqual({ level: "info", msg: "ferretdb: x" });
});
