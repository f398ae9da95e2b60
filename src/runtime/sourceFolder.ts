import { existsSync } from "node:fs";
import { join } from "node:path";

/**
 * A folder of files other than TypeScript (Go sources, CSS, browser modules) beside the module
 * in `dirname`. Compiled JavaScript runs from dist/src/…, while those files stay in src/…; tsc
 * does not copy them.
 */
export function sourceFolder(dirname: string, name: string): string {
  const beside = join(dirname, name);
  if (existsSync(beside)) return beside;
  const inSources = join(dirname.replace(/[/\\]dist(?=[/\\]src([/\\]|$))/, ""), name);
  return existsSync(inSources) ? inSources : beside;
}
