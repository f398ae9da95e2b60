import { MongoClient } from "mongodb";
import { createWebhookEventRepository, type HeldWebhook, type WebhookClaim } from "../../src/store/webhookEventRepository";

// The webhook-id store on the real embedded database, with a clock the test moves: a claim
// guards an act in progress, done() makes redeliveries duplicates, and a claim that neither
// finished nor was released (the database refused both) is taken over once stale.
let client: MongoClient;
const dbName = `webhook_events_${Date.now()}`;
let clock = 1_000_000;

beforeAll(async () => {
  client = await new MongoClient(process.env.TEST_MONGODB_URI ?? "").connect();
});
afterAll(async () => {
  await client.db(dbName).dropDatabase();
  await client.close();
});

const repository = () => createWebhookEventRepository(client.db(dbName), { staleMs: 60_000, now: () => clock });

/** The claim a delivery holds (failing the test if it got none). */
function held(claim: WebhookClaim): HeldWebhook {
  if (typeof claim === "string") throw new Error(`expected the id to be claimed, got ${claim}`);
  return claim;
}

test("a redelivery while the first acts is busy; after done() it is a duplicate", async () => {
  const seen = repository();
  const first = held(await seen.claim("evt-1", "k"));
  expect(await seen.claim("evt-1", "k")).toBe("busy");
  await seen.done(first);
  expect(await seen.claim("evt-1", "k")).toBe("duplicate");
  clock += 10 * 60_000;
  expect(await seen.claim("evt-1", "k")).toBe("duplicate"); // done stays done, however late the redelivery
});

test("a released id is claimed by the retry; release() leaves a done id alone", async () => {
  const seen = repository();
  await seen.release(held(await seen.claim("evt-2", "k")));
  const retry = held(await seen.claim("evt-2", "k"));
  await seen.done(retry);
  await seen.release(retry);
  expect(await seen.claim("evt-2", "k")).toBe("duplicate");
});

test("a claim never finished is taken over once stale, by one redelivery only", async () => {
  const seen = repository();
  held(await seen.claim("evt-3", "k"));
  clock += 59_000;
  expect(await seen.claim("evt-3", "k")).toBe("busy");
  clock += 2_000;
  held(await seen.claim("evt-3", "k"));
  expect(await seen.claim("evt-3", "k")).toBe("busy"); // the taker's claim is fresh again
});

test("a stale holder that finishes late neither frees nor marks the claim taken over from it", async () => {
  const seen = repository();
  const stale = held(await seen.claim("evt-4", "k"));
  clock += 61_000;
  const taker = held(await seen.claim("evt-4", "k"));
  // The first delivery fails at last: the taker still acts, so a third delivery must wait.
  await seen.release(stale);
  expect(await seen.claim("evt-4", "k")).toBe("busy");
  // Or it succeeds at last: the taker's own outcome decides, so its failure still frees the id.
  await seen.done(stale);
  expect(await seen.claim("evt-4", "k")).toBe("busy");
  await seen.release(taker);
  const retry = held(await seen.claim("evt-4", "k"));
  await seen.done(retry);
  expect(await seen.claim("evt-4", "k")).toBe("duplicate");
});

test("a one-time id (an OAuth code) is used once, and never goes stale", async () => {
  const seen = repository();
  expect(await seen.use("code-1", "shop")).toBe(true);
  expect(await seen.use("code-1", "shop")).toBe(false);
  clock += 24 * 3600_000;
  expect(await seen.use("code-1", "shop")).toBe(false);
  expect(await seen.claim("code-1", "shop")).toBe("duplicate");
});

test("ids written before claims could go stale (no acting field) count as done", async () => {
  await client
    .db(dbName)
    .collection("webhook_events")
    .insertOne({ _id: "evt-old" as never, receivedAt: new Date(clock), idempotencyKey: "k" });
  expect(await repository().claim("evt-old", "k")).toBe("duplicate");
});
