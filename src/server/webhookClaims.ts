import type { Logger } from "../observability/logger.js";
import type { HeldWebhook, WebhookEventRepository } from "../store/webhookEventRepository.js";
import { sendJson, type NodeResponse } from "./httpJson.js";

/**
 * The answer to a redelivery that arrives while the first delivery is still being acted on: 503
 * with Retry-After, which every sender retries (some give up on any other 4xx, and if the first
 * delivery then fails, nobody would send the event again).
 */
export function answerBusy(res: NodeResponse): void {
  sendJson(res, 503, { error: "this webhook is being acted on by an earlier delivery: retry later" }, { "retry-after": "5" });
}

/**
 * Forgets a webhook id whose acting failed. If the database refuses that too, the claim stays
 * until it is stale and the sender's retry after that acts: said in the log, not swallowed.
 */
export async function forget(seen: Pick<WebhookEventRepository, "release">, held: HeldWebhook, log: Logger): Promise<void> {
  await seen
    .release(held)
    .catch((err: unknown) => log({ level: "warn", msg: "webhook id not released: a retry acts once its claim is stale", id: held.id, error: String(err) }));
}

/**
 * Marks a webhook id as acted on. If the database refuses, a redelivery after the claim went
 * stale acts again; acting twice only ever repeats a move forward.
 */
export async function remember(seen: Pick<WebhookEventRepository, "done">, held: HeldWebhook, log: Logger): Promise<void> {
  await seen.done(held).catch((err: unknown) => log({ level: "warn", msg: "webhook id not marked done", id: held.id, error: String(err) }));
}
