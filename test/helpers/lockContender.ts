import { acquireDataDirLock } from "../../src/store/dataDirLock";

// A process contending for DATA_DIR's lock (argv[2]): says "ready", waits for a line on stdin,
// then tries once and says "won" or "lost: <why>"; it holds what it won until stdin closes.
const dir = process.argv[2] ?? "";
process.stdin.once("data", () => {
  acquireDataDirLock(dir).then(
    () => process.stdout.write("won\n"),
    (err: unknown) => process.stdout.write(`lost: ${(err as Error).message}\n`),
  );
});
process.stdin.on("end", () => process.exit(0));
process.stdout.write("ready\n");
