import { spawnAndWait } from "./spawnAndWait";

export interface FloorOptions {
  databaseUri: string;
  databaseName: string;
  /** The card key's PEM, the service's own. */
  cardKeyPem: string;
  /** The service's driver pool, so that both wait on the database alike. */
  poolSize: number;
  /** More environment (NODE_OPTIONS). */
  env?: Record<string, string>;
}

/** The floor server (floorServer.ts) on a free port of its own, once it listens. */
export async function startFloor(o: FloorOptions) {
  const floor = await spawnAndWait(
    [process.execPath, "--import", "tsx", "test/bench/floorServer.ts"],
    { ...o.env, MONGODB_URI: o.databaseUri, MONGODB_DATABASE: o.databaseName, FLOOR_PRIVATE_KEY: o.cardKeyPem, FLOOR_POOL_SIZE: String(o.poolSize) },
    /^listening (\d+)$/,
  );
  return { ...floor, url: `http://127.0.0.1:${floor.match[1]}` };
}
