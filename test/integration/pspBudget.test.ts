import { cardBody, genstoreClient, storedPayment, uniqueId } from "../helpers/payments";
import { startTestServer, type TestServer } from "../helpers/testServer";

// Design §2.3: a PSP slower than the budget gets a PROCESSING answer; the work finishes anyway.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ pspTimeoutMs: 150, sandbox: { latencyMs: 600, asyncDelayMs: 0 } });
});
afterAll(async () => {
  await new Promise((r) => setTimeout(r, 700)); // let background work end before the database goes
  await server.stop();
});

test("a slow PSP: the answer comes within the budget without error, and the payment completes in the background", async () => {
  const gs = genstoreClient(server);
  const id = uniqueId("PI");
  const started = Date.now();
  expect(await gs.pay(cardBody(server, id, { manualCapture: true }))).toEqual({ status: 200, body: {} });
  expect(Date.now() - started).toBeLessThan(550);
  expect((await storedPayment(server, id))?.state).toBe("received");
  // A duplicate while the PSP call runs waits its turn, within the budget too.
  expect(await gs.pay(cardBody(server, id, { manualCapture: true }))).toEqual({ status: 200, body: {} });
  await new Promise((r) => setTimeout(r, 700));
  expect((await storedPayment(server, id))?.state).toBe("authorized");
});
