import type { Logger } from "./paymentServiceImpl.js";

/** One JSON object per line on stdout; fields are chosen by callers and never hold card data. */
export function createJsonLogger(stream: NodeJS.WritableStream = process.stdout, minLevel: "debug" | "info" | "warn" | "error" = "info"): Logger {
  const order = { debug: 10, info: 20, warn: 30, error: 40 } as const;
  return (entry) => {
    const level = (entry.level as keyof typeof order | undefined) ?? "info";
    if (order[level] < order[minLevel]) return;
    stream.write(JSON.stringify({ time: new Date().toISOString(), ...entry, level }) + "\n");
  };
}
