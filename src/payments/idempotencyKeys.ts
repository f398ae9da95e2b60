import { hash } from "node:crypto";
import type { OperationKind } from "./records.js";

const prefix: Record<OperationKind | "payment", string> = { payment: "pay", capture: "cap", void: "voi", refund: "ref" };

/**
 * The idempotency key sent to the PSP for one of our operations: derived from the shop and
 * Genstore's id, so it is the same on every retry and after a crash, and at most 40 characters
 * (the shortest limit among common PSPs), decisions.md D6.
 */
export function pspIdempotencyKey(kind: OperationKind | "payment", shopId: string, id: string): string {
  // One-shot hash: a payment derives its key several times (repository, journal, PSP call).
  const digest = hash("sha256", `${shopId}\u0000${kind}\u0000${id}`, "base64url").slice(0, 32);
  return `gs${prefix[kind]}_${digest}`;
}

/** The operation kind a key was made for (its prefix), or undefined for a payment's or a foreign key. */
export function operationKindOfKey(key: string): OperationKind | undefined {
  const kinds: OperationKind[] = ["capture", "void", "refund"];
  return kinds.find((k) => key.startsWith(`gs${prefix[k]}_`));
}
