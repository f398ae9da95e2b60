import { resolve } from "node:path";
import { buildEmbeddedDatabase, EmbeddedDatabaseError } from "./embeddedDatabase.js";

// `npm run build:ferretdb`: builds the embedded FerretDB into CACHE_DIR ahead of the first start
// (an image build, a CI cache), printing where it is.
buildEmbeddedDatabase(resolve(process.env.CACHE_DIR || ".cache"), (line) => process.stdout.write(`${line}\n`)).then(
  (binary) => process.stdout.write(`embedded FerretDB: ${binary}\n`),
  (err: unknown) => {
    process.stderr.write(`build:ferretdb: ${err instanceof EmbeddedDatabaseError ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
