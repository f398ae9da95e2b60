// OpenAPI links between the operations of a payment's life: what a client (or a stateful fuzzer)
// may call next with the ids it just sent. Create -> capture, void, refund, get; capture ->
// refund, get; refund -> get refund. The proto has no words for this; the payment rules do.
import type { OperationInput } from "./operations.js";
import type { JsonSchema } from "./fieldRules.js";

type Step = { target: string; body?: string[]; path?: string; query?: string };

const payment = "paymentId";
const afterPayment: Step[] = [
  { target: "CapturePayment", body: [payment, "amount", "test"] },
  { target: "VoidPayment", body: [payment, "test"] },
  { target: "RefundPayment", body: [payment, "amount", "test"] },
  { target: "GetPayment", query: payment },
  { target: "GetPayment", path: payment },
];

const next: Record<string, Step[]> = {
  CreateCardPayment: afterPayment,
  CreateOffsitePayment: afterPayment,
  CapturePayment: [
    { target: "RefundPayment", body: [payment, "amount", "test"] },
    { target: "GetPayment", path: payment },
  ],
  VoidPayment: [{ target: "GetPayment", path: payment }],
  RefundPayment: [
    { target: "GetRefund", query: "refundId" },
    { target: "GetRefund", path: "refundId" },
  ],
};

/** The `links` of a method's 200 answer, to the operations its bindings became (operationIdsOf). */
export function linksOf(input: OperationInput): { links?: Record<string, JsonSchema> } {
  const steps = next[input.method.name];
  if (!steps) return {};
  const links: Record<string, JsonSchema> = {};
  for (const step of steps) {
    const ids = input.operationIds.get(step.target) ?? [];
    // A GET bound twice: the query form is the method's first binding, the path form its second.
    const operationId = step.path ? ids[1] : ids[0];
    if (!operationId) throw new Error(`link from ${input.method.name}: no operation for ${step.target}`);
    const link: JsonSchema = { operationId };
    if (step.body) link.requestBody = Object.fromEntries(step.body.map((k) => [k, `$request.body#/${k}`]));
    if (step.path) link.parameters = { [`path.${step.path}`]: `$request.body#/${step.path}` };
    if (step.query) link.parameters = { [`query.${step.query}`]: `$request.body#/${step.query}` };
    links[operationId] = link;
  }
  return { links };
}
