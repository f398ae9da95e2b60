import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { CreateCardPaymentRequestSchema, CreateCardPaymentResponseSchema, PaymentService } from "../../gen/genstore/payment/v1/payment_service_pb";
import { grpcUnary } from "../helpers/grpcJsClient";
import type { createCardPayloads } from "./cardPayloads";
import type { Call, createGrpcPoster, createJsonPoster } from "./loadGenerator";

// One card payment per call, on each of the ways the bench calls the service or the floor (bench.ts,
// abCompare.ts). Each fails on anything but an answer without `error` (the floor's: on anything but
// a 200); `prefix` starts its payment ids.

type Payloads = ReturnType<typeof createCardPayloads>;
const createCardPaymentPath = `/${PaymentService.typeName}/${PaymentService.method.createCardPayment.name}`;

/** On the Genstore JSON route. */
export function jsonCardCall(post: ReturnType<typeof createJsonPoster>, payloads: Payloads, prefix: string): Call {
  return async (_w, seq) => {
    const r = await post("/genstore/v1/payments/card", payloads.cardJson(payloads.unique(prefix), seq, false));
    if (r.status !== 200 || (JSON.parse(r.text) as { error?: string }).error !== "") throw new Error(`${r.status} ${r.text.slice(0, 120)}`);
  };
}

/** To the floor (floorServer.ts), which answers any POST with `{}`. */
export function floorCardCall(post: ReturnType<typeof createJsonPoster>, payloads: Payloads, prefix: string): Call {
  return async (_w, seq) => {
    const r = await post("/", payloads.cardJson(payloads.unique(prefix), seq, false));
    if (r.status !== 200) throw new Error(`${r.status} ${r.text.slice(0, 120)}`);
  };
}

/** Over gRPC, from the bench's lean HTTP/2 client. */
export function grpcCardCall(poster: ReturnType<typeof createGrpcPoster>, payloads: Payloads, prefix: string): Call {
  return async (_w, seq) => {
    const r = await poster.call(createCardPaymentPath, toBinary(CreateCardPaymentRequestSchema, payloads.cardMessage(prefix, seq)));
    if (r.grpcStatus !== 0) throw new Error(`gRPC status ${r.grpcStatus}: ${r.grpcMessage}`);
    const error = fromBinary(CreateCardPaymentResponseSchema, r.message).error;
    if (error) throw new Error(error);
  };
}

/** Over gRPC, from @grpc/grpc-js (a client of test/helpers/grpcJsClient.ts). */
export function grpcJsCardCall(client: grpc.Client & Record<string, unknown>, payloads: Payloads, prefix: string): Call {
  return async (_w, seq) => {
    const res = await grpcUnary<{ error: string }>(client, PaymentService.method.createCardPayment, payloads.cardMessage(prefix, seq));
    if (res.error) throw new Error(res.error);
  };
}
