import { randomBytes } from "node:crypto";
import { fromJson } from "@bufbuild/protobuf";
import { CreateCardPaymentRequestSchema, type CreateCardPaymentRequest } from "../../gen/genstore/payment/v1/payment_service_pb";
import { normalizeJson } from "../../src/server/gateway/jsonCoercion";
import examples from "../fixtures/apiPageExamples.json";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";

/**
 * `count` card packets encrypted like Genstore (each with its own ephemeral key), the API page's
 * card payment around them, and ids new for the whole run: `seq` starts again in each window, and
 * a few random bytes beside it met an earlier window's id once in a run (the floor's E11000 at
 * c=64, 2026-12-02).
 */
export function createCardPayloads(publicKeySpki: string, count: number) {
  const packets = Array.from({ length: count }, () => ({ ...encryptLikeGenstore(publicKeySpki, testCard()), returnUrl: "https://shop.example/r" }));
  const template = JSON.parse(examples.cardPayment) as Record<string, unknown>;
  const run = randomBytes(3).toString("hex");
  let issued = 0;
  const unique = (prefix: string) => `${prefix}${run}-${(++issued).toString(36)}`;
  const cardJson = (id: string, seq: number, manualCapture: boolean) =>
    JSON.stringify({ ...template, paymentId: id, manualCapture: String(manualCapture), paymentMethod: { data: packets[seq % packets.length] } });
  // The same requests as protobuf messages for the gRPC clients, made once: a call only sets its id.
  const messages = packets.map((_, seq) =>
    fromJson(CreateCardPaymentRequestSchema, normalizeJson(CreateCardPaymentRequestSchema, JSON.parse(cardJson("x", seq, false))), {
      ignoreUnknownFields: true,
    }),
  );
  return {
    packets,
    unique,
    cardJson,
    cardMessage: (prefix: string, seq: number): CreateCardPaymentRequest => ({ ...messages[seq % messages.length]!, paymentId: unique(prefix) }),
  };
}
