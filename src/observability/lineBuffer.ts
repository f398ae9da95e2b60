/** A log destination that gathers lines and writes them to its stream in one write. */
export interface LineBuffer {
  write(line: string): boolean;
  /** Writes what is gathered now. */
  flush(): void;
}

const open = new Set<LineBuffer>();
let hooked = false;

/** Writes every buffer's lines now: before a line written past them, and at exit. */
export function flushLineBuffers(): void {
  for (const b of open) b.flush();
}

/** Lines that may wait: info and debug (the level is the first field, see logger.ts). */
const mayWait = (line: string) => line.startsWith('{"level":"info"') || line.startsWith('{"level":"debug"');

/**
 * Info and debug lines held for at most `flushMs` (or `maxBytes`), then written together: on a
 * pipe every write wakes its reader, and two lines per card payment, one write each, cost the
 * service and the process reading its logs more than the lines themselves (README, Performance).
 * Any other line (warn, error: rare, and often the one that explains a death) is written at once,
 * with those held before it. Written at process exit too (process.exit included); a death that
 * skips the exit hook (SIGKILL, an out-of-memory abort) loses the held lines.
 */
export function createLineBuffer(stream: NodeJS.WritableStream, flushMs = 50, maxBytes = 16 * 1024): LineBuffer {
  let lines: string[] = [];
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const buffer: LineBuffer = {
    write(line) {
      lines.push(line);
      bytes += line.length;
      if (bytes >= maxBytes || !mayWait(line)) buffer.flush();
      // Unref'd: a buffer never keeps the process alive; the exit hook writes what it holds.
      else timer ??= setTimeout(() => buffer.flush(), flushMs).unref();
      return true;
    },
    flush() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (!lines.length) return;
      const text = lines.join("");
      lines = [];
      bytes = 0;
      stream.write(text);
    },
  };
  open.add(buffer);
  if (!hooked) {
    hooked = true;
    process.on("exit", flushLineBuffers);
  }
  return buffer;
}
