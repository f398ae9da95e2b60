import { startCallbackSink, type CallbackSink } from "../bench/callbackSink";
import { metricTotal } from "../helpers/metrics";
import { cardBody, uniqueId } from "../helpers/payments";
import { postJson, startTestServer, type TestServer } from "../helpers/testServer";
import { waitFor } from "../helpers/waitFor";

// The bench's Genstore counts the service's callbacks per window: the count must be of callbacks
// the service saw acknowledged, one per payment, so that a step's "callbacks/req" means delivered.
let sink: CallbackSink;
let server: TestServer;
beforeAll(async () => {
  sink = await startCallbackSink();
  server = await startTestServer({ callbackBaseUrl: sink.url });
});
afterAll(async () => {
  await server.stop();
  await sink.stop();
});

/** Callbacks the service saw Genstore acknowledge, from its /metrics. */
const delivered = () => metricTotal(server.url, "callbacks_delivered_total");

test("each payment's callback is counted once, and the service records it delivered", async () => {
  const [before, deliveredBefore] = [sink.received(), await delivered()];
  for (const id of [uniqueId("sink"), uniqueId("sink")])
    expect((await postJson(`${server.url}/genstore/v1/payments/card`, cardBody(server, id, { manualCapture: false }))).body.error).toBe("");
  await waitFor("both callbacks acknowledged", async () => (await delivered()) - deliveredBefore === 2);
  expect(sink.received() - before).toBe(2);
});

test("a body sent in pieces is answered 200 once it has all arrived", async () => {
  const before = sink.received();
  const res = await fetch(`${sink.url}/api/202412/app/payment/p1`, {
    method: "PUT",
    body: new Blob(['{"paymentId":', '"p1"}']),
    headers: { "content-type": "application/json" },
  });
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("{}");
  expect(sink.received() - before).toBe(1);
});
