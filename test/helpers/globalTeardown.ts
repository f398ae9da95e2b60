import { rmSync } from "node:fs";
import type { EmbeddedDatabase } from "../../src/store/embeddedDatabase";
import type { StripeMock } from "./stripeMock";

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __testDatabase?: EmbeddedDatabase }).__testDatabase?.stop();
  await (globalThis as { __stripeMock?: StripeMock }).__stripeMock?.stop();
  if (process.env.TEST_DATA_DIR) rmSync(process.env.TEST_DATA_DIR, { recursive: true, force: true });
}
