import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus as Status } from "../../gen/health/v1/health_pb";
import { createHealthServiceImpl } from "../../src/server/healthService";

// The Health watch's limits, on the implementation itself: a watch ends by itself after its
// lifetime, and its place is freed when its call ends even if nobody resumes it.
function context(signal: AbortSignal) {
  return createHandlerContext({
    service: Health,
    method: Health.method.watch,
    protocolName: "grpc",
    requestMethod: "POST",
    url: "http://localhost/grpc.health.v1.Health/Watch",
    requestSignal: signal,
  });
}
const request = create(HealthCheckRequestSchema, { service: "" });
const source = { services: [], isServing: async () => true };

test("a watch ends by itself (OK) after its lifetime, and then its place is free", async () => {
  const health = createHealthServiceImpl(source, { maxWatches: 1, watchLifetimeMs: 50, intervalMs: 10 });
  const seen: Status[] = [];
  // Only a bound for the failure: a watch that never ends is cut after 2 s, and fails below.
  const call = new AbortController();
  const bound = setTimeout(() => call.abort(new ConnectError("never ended", Code.DeadlineExceeded)), 2000);
  try {
    for await (const m of health.watch(request, context(call.signal))) seen.push(m.status!);
  } finally {
    clearTimeout(bound);
  }
  expect(call.signal.aborted).toBe(false);
  expect(seen).toEqual([Status.SERVING]);
  const next = health.watch(request, context(new AbortController().signal))[Symbol.asyncIterator]();
  expect((await next.next()).value).toMatchObject({ status: Status.SERVING });
  await next.return?.(undefined);
});

test("the watch over the limit is refused; a call that ends frees its place though its generator is never resumed", async () => {
  const health = createHealthServiceImpl(source, { maxWatches: 1, watchLifetimeMs: 60_000, intervalMs: 10 });
  const call = new AbortController();
  const first = health.watch(request, context(call.signal))[Symbol.asyncIterator]();
  expect((await first.next()).value).toMatchObject({ status: Status.SERVING }); // suspended at its yield
  const refused = health.watch(request, context(new AbortController().signal))[Symbol.asyncIterator]();
  await expect(refused.next()).rejects.toEqual(new ConnectError("1 health watches are open already; use Check, or watch again later", Code.ResourceExhausted));
  call.abort(); // the stream closed; `first` is left suspended, as a transport might leave it
  const again = health.watch(request, context(new AbortController().signal))[Symbol.asyncIterator]();
  expect((await again.next()).value).toMatchObject({ status: Status.SERVING });
  await again.return?.(undefined);
});
