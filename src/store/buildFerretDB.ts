import { resolve } from "node:path";
import { createJsonLogger } from "../observability/logger.js";
import { buildEmbeddedDatabase } from "./ferretdbBuild.js";

// `npm run build:ferretdb`: builds the embedded FerretDB ahead of the first start (an image
// build, a provisioning step), into CACHE_DIR as the service would.
const log = createJsonLogger(process.stdout, "info");
buildEmbeddedDatabase(resolve(process.env.CACHE_DIR || ".cache"), { log }).then(
  (binary) => log({ level: "info", msg: "the embedded FerretDB is built", binary }),
  (err: unknown) => {
    process.stderr.write(`genstore-payment-app: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
