import type { Logger } from "../observability/logger.js";
import type { WebhookEventRepository } from "../store/webhookEventRepository.js";

/** The answer to a redelivery that arrives while the first delivery is still being acted on. */
export const busyWebhook = "this webhook is being acted on by an earlier delivery: retry later";

/**
 * Forgets a webhook id whose acting failed. If the database refuses that too, the claim stays
 * until it is stale and the sender's retry after that acts: said in the log, not swallowed.
 */
export async function forget(seen: Pick<WebhookEventRepository, "release">, id: string, log: Logger): Promise<void> {
  await seen
    .release(id)
    .catch((err: unknown) => log({ level: "warn", msg: "webhook id not released: a retry acts once its claim is stale", id, error: String(err) }));
}

/**
 * Marks a webhook id as acted on. If the database refuses, a redelivery after the claim went
 * stale acts again; acting twice only ever repeats a move forward.
 */
export async function remember(seen: Pick<WebhookEventRepository, "done">, id: string, log: Logger): Promise<void> {
  await seen.done(id).catch((err: unknown) => log({ level: "warn", msg: "webhook id not marked done", id, error: String(err) }));
}
