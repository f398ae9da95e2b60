/**
 * The sum of a metric's samples on a service's /metrics (Prometheus text) whose labels include
 * `labels`; 0 when none does. Tests read the service's own counts through it, before and after.
 */
export async function metricTotal(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample || sample[1] !== name) continue;
    const has = new Map([...(sample[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([k, v]) => has.get(k) === v)) total += Number(sample[3]);
  }
  return total;
}
