import { timingSafeEqual } from "node:crypto";

/** Whether two secrets (tokens, MACs) are equal, in time that does not depend on where they differ. */
export function safeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
