import { MongoClient } from "mongodb";
import { createDatabaseHealth } from "../../src/store/databaseHealth";
import { createMonitorWatch } from "../../src/store/monitorWatch";
import { waitFor } from "../helpers/waitFor";

// The driver's heartbeat events drive the watch; the client is real but never connected, and the
// events are the ones its monitor emits (ServerHeartbeatStarted / Succeeded / Failed).
const address = "127.0.0.1:27017";
const heartbeat = (client: MongoClient, event: "serverHeartbeatStarted" | "serverHeartbeatSucceeded" | "serverHeartbeatFailed") =>
  client.emit(event, { connectionId: address } as never);

test("the watch says how long a heartbeat has gone unanswered, and forgets it once answered or reset", () => {
  let t = 0;
  const client = new MongoClient("mongodb://127.0.0.1:1/");
  const watch = createMonitorWatch(client, () => t);
  expect(watch.stuckForMs()).toBe(0);
  heartbeat(client, "serverHeartbeatStarted");
  t = 4000;
  expect(watch.stuckForMs()).toBe(4000);
  heartbeat(client, "serverHeartbeatFailed");
  expect(watch.stuckForMs()).toBe(0);
  heartbeat(client, "serverHeartbeatStarted");
  t = 9000;
  expect(watch.stuckForMs()).toBe(5000);
  watch.reset();
  expect(watch.stuckForMs()).toBe(0);
  watch.stop();
  heartbeat(client, "serverHeartbeatStarted");
  expect(watch.stuckForMs()).toBe(0);
});

function harness(connectFails: number) {
  let t = 0;
  const client = new MongoClient("mongodb://127.0.0.1:1/");
  const calls: string[] = [];
  const logs: string[] = [];
  let up = false;
  let pings = 0;
  const health = createDatabaseHealth({
    ping: async () => {
      pings++;
      if (!up) throw new Error("server selection timed out");
    },
    intervalMs: 5,
    log: (e) => logs.push(String(e.msg)),
    now: () => t,
    monitor: {
      watch: createMonitorWatch(client, () => t),
      stuckAfterMs: 15_000,
      reconnect: {
        close: async () => void calls.push("close"),
        connect: async () => {
          calls.push("connect");
          if (calls.filter((c) => c === "connect").length <= connectFails) throw new Error("connect ECONNREFUSED");
        },
      },
    },
  });
  return { client, calls, logs, health, tick: (ms: number) => (t += ms), up: () => (up = true), pings: () => pings };
}

test("while pings fail, a monitor check stuck past its bound closes the client and connects it again, once", async () => {
  const h = harness(0);
  h.health.start();
  heartbeat(h.client, "serverHeartbeatStarted");
  h.tick(14_000);
  // Pings fail, but the check may still end: nothing is restarted yet.
  await waitFor("a failing ping", () => h.logs.some((m) => m.startsWith("database unreachable")));
  expect(h.calls).toEqual([]);
  h.tick(2_000);
  await waitFor("the client started afresh", () => h.calls.length === 2);
  expect(h.calls).toEqual(["close", "connect"]);
  expect(h.logs.filter((m) => m.includes("server monitor has hung"))).toHaveLength(1);
  // The stuck check belonged to the closed topology: later failing pings restart nothing more.
  h.tick(20_000);
  const pings = h.pings();
  await waitFor("more failing pings", () => h.pings() >= pings + 3);
  expect(h.calls).toEqual(["close", "connect"]);
  h.health.stop();
});

test("a connect that fails is tried again at each failing ping until it succeeds; a database that answers restarts nothing", async () => {
  const h = harness(2);
  h.health.start();
  heartbeat(h.client, "serverHeartbeatStarted");
  h.tick(16_000);
  await waitFor("the third connect", () => h.calls.filter((c) => c === "connect").length === 3);
  expect(h.calls).toEqual(["close", "connect", "connect", "connect"]);
  h.health.stop();

  const ok = harness(0);
  ok.up();
  ok.health.start();
  heartbeat(ok.client, "serverHeartbeatStarted");
  ok.tick(60_000);
  await waitFor("a few answered pings", () => ok.pings() >= 3);
  expect(ok.health.up).toBe(true);
  expect(ok.calls).toEqual([]);
  ok.health.stop();
});
