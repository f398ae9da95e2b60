/** What a benched service is told: the database, the card key, Genstore's stand-in, no limits in the way. */
export interface BenchedService {
  dataDir: string;
  databaseUri: string;
  databaseName: string;
  cardKeyPem: string;
  genstoreUrl: string;
  books: string;
}

/** The environment of a service under the bench (bench.ts, abCompare.ts); `PORT` is the caller's. */
export function benchServiceEnv(s: BenchedService): Record<string, string> {
  return {
    DATA_DIR: s.dataDir,
    MONGODB_URI: s.databaseUri,
    MONGODB_DATABASE: s.databaseName,
    CARD_PRIVATE_KEY: s.cardKeyPem,
    GENSTORE_CALLBACK_BASE_URL: s.genstoreUrl,
    GENSTORE_ACCESS_TOKEN: "bench",
    // The fake Genstore has no rate limit; Genstore's 2/s per shop would only queue callbacks.
    GENSTORE_RATE_LIMIT_BURST: "100000",
    GENSTORE_RATE_LIMIT_PER_SECOND: "100000",
    SANDBOX_LATENCY_MS: "0",
    // The service runs on the bench's own FerretDB (to count its CPU and share it with the floor)
    // and so gets MONGODB_URI; its books as beside the embedded database, where auto puts them.
    SANDBOX_BOOKS: s.books,
    LOG_LEVEL: "info",
    // One client address and one shop carry all the load here: measure the service, not its limiter.
    RATE_LIMIT_PER_IP: "1000000",
    RATE_LIMIT_PER_SHOP: "1000000",
    // To compare pool sizes: DATABASE_POOL_SIZE=100 npm run bench (unset: the service's default).
    ...(process.env.DATABASE_POOL_SIZE ? { DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE } : {}),
  };
}
