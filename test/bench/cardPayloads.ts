import { randomBytes } from "node:crypto";
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
  return {
    packets,
    unique: (prefix: string) => `${prefix}${run}-${(++issued).toString(36)}`,
    cardJson: (id: string, seq: number, manualCapture: boolean) =>
      JSON.stringify({ ...template, paymentId: id, manualCapture: String(manualCapture), paymentMethod: { data: packets[seq % packets.length] } }),
  };
}
