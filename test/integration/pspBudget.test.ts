import { cardBody, genstoreClient, storedPayment, uniqueId } from "../helpers/payments";
import { startTestServer, type TestServer } from "../helpers/testServer";
import { waitFor } from "../helpers/waitFor";

// A PSP slower than the budget gets a PROCESSING answer; the work finishes anyway.
const pspLatencyMs = 3000;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ pspTimeoutMs: 150, sandbox: { latencyMs: pspLatencyMs, asyncDelayMs: 0 } });
});
afterAll(async () => {
  await server.stop();
});

test("a slow PSP: the answer comes within the budget without error, and the payment completes in the background", async () => {
  const gs = genstoreClient(server);
  const id = uniqueId("PI");
  const started = Date.now();
  expect(await gs.pay(cardBody(server, id, { manualCapture: true }))).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
  // Well before the PSP's answer (the budget is 150 ms; the margin is for a busy machine).
  expect(Date.now() - started).toBeLessThan(pspLatencyMs / 2);
  expect((await storedPayment(server, id))?.state).toBe("received");
  // A duplicate while the PSP call runs waits its turn, within the budget too.
  expect(await gs.pay(cardBody(server, id, { manualCapture: true }))).toEqual({ status: 200, body: { threeDsUrl: "", error: "" } });
  await waitFor("the payment to be authorized in the background", async () => (await storedPayment(server, id))?.state === "authorized", pspLatencyMs * 3);
});
