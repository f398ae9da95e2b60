import type { CardDecryptor } from "../../crypto/cardDecryptor.js";
import type { Connector, OperationOutcome, PaymentOutcome, PspContext } from "../../psp/connector.js";
import type { ConnectorRegistry } from "../../psp/registry.js";
import { withinBudget } from "../../runtime/budget.js";
import { callThroughBreaker, createPspBreaker, type PspBreakerSettings } from "./pspBreaker.js";
import { createKeyedMutex, type KeyedMutex } from "../../runtime/keyedMutex.js";
import { PaymentError, failedPrecondition, notFound } from "../errors.js";
import { noObserver, type PaymentObserver } from "../observer.js";
import { createOutcomeRecorder, type OutcomeRecorder } from "../outcomes.js";
import type { PaymentRecord, PaymentRepository } from "../records.js";
import type { ShopConfig, ShopDirectory } from "../shops.js";
import { openStates } from "../stateMachine.js";
import type { RequestMeta } from "./types.js";

export interface PaymentUseCaseDeps {
  repository: PaymentRepository;
  shops: ShopDirectory;
  connectors: ConnectorRegistry;
  cards: CardDecryptor;
  /** The signed link to our return endpoint for one payment (see server/auth/returnLinks.ts). */
  returnLink: (shopId: string, paymentId: string, cancelled?: boolean) => string;
  /** Production: live payments need a PSP that moves money; redirects need https. */
  production?: boolean;
  /** The PSP is asked about a payment at most once per this interval from the return endpoint. */
  returnRefreshMs?: number;
  /**
   * How long a payment claimed but never sent to the PSP (a crash) waits for Genstore's retry,
   * which carries the card again, before it is declined.
   */
  paymentRetryWindowMs?: number;
  /** How long a request waits for the PSP before answering PROCESSING (decisions.md D3). */
  pspTimeoutMs: number;
  /** The circuit breaker per shop and connector (default: 5 failures in a row open it for 30 s). */
  pspBreaker?: PspBreakerSettings;
  log: (entry: Record<string, unknown>) => void;
  now?: () => Date;
  mutex?: KeyedMutex;
  /** Taking a payment's lock writes (leases between instances): an unknown payment is looked up first, so it writes nothing. */
  lockWrites?: boolean;
  observer?: PaymentObserver;
  /** Told when a result for Genstore was queued (the callback dispatcher's notify). */
  onCallbackQueued?: (shopId: string, paymentId: string, snapshot: PaymentRecord) => void;
}

/** The per-payment lock shared by the use cases and the callback dispatcher. */
export const paymentLockKey = (shopId: string, paymentId: string) => `${shopId}\u0000${paymentId}`;

/**
 * What every use case stands on: the shop, the per-payment lock with the PSP time budget, the
 * one way to call a PSP, and the recorder through which PSP outcomes change payments.
 */
export interface Kernel {
  deps: PaymentUseCaseDeps;
  repository: PaymentRepository;
  now: () => Date;
  production: boolean;
  recorder: OutcomeRecorder;
  shopOf(meta: RequestMeta): Promise<ShopConfig>;
  connectorOf(name: string): Connector;
  pspContext(shop: ShopConfig, test: boolean): PspContext;
  /** Runs `task` under the payment's lock (no time budget: background work and status queries). */
  locked<T>(shopId: string, paymentId: string, task: () => Promise<T>): Promise<T>;
  /**
   * Runs `task` under the payment's lock; answers with `late()` if it overruns the PSP budget.
   * `task` may answer before it ends (`answer`): it keeps the lock until its writes are done,
   * and `settled` waits for them. Not with leases between instances (`lockWrites`): there `task`
   * gets no `answer`, so that its writes are not taken for answered ones.
   */
  serialized<T>(meta: RequestMeta, paymentId: string, task: (answer?: (value: T) => void) => Promise<T>, late: () => Promise<T>): Promise<T>;
  /** Resolves once the writes that follow an answer already given about this payment are done. */
  settled(shopId: string, paymentId: string): Promise<void>;
  /** Resolves once the writes that follow every answer already given are done (shutdown waits for them). */
  allSettled(): Promise<void>;
  /**
   * Calls the PSP through the shop's circuit breaker; a throw is an unknown outcome, never a
   * decline. `refused` says what a call that did not happen makes of it (a decline or a failed
   * operation): the PSP refused the shop's credentials, or, for a `fresh` call (nothing was
   * ever sent for it), the circuit is open. Otherwise, as for status queries, it stays unknown.
   */
  callPsp<T extends PaymentOutcome | OperationOutcome>(call: PspCall<T>): Promise<T>;
  requirePayment(shopId: string, paymentId: string): Promise<PaymentRecord>;
  /**
   * Under the payment's lock: if its outcome is still open, asks the PSP for its status and lets
   * `decide` act on the answer; otherwise returns the payment as it is.
   */
  withPspStatus(
    meta: RequestMeta,
    paymentId: string,
    decide: (p: PaymentRecord, outcome: PaymentOutcome, connector: Connector, ctx: PspContext) => Promise<PaymentRecord>,
  ): Promise<PaymentRecord | null>;
}

/** One call to a PSP, as the kernel makes it. */
export interface PspCall<T> {
  connector: string;
  what: string;
  meta: RequestMeta;
  send: () => Promise<T>;
  refused?: (reason: string) => T;
  /** Nothing was sent for this yet (a new payment or operation), so not sending it is a clean refusal. */
  fresh?: boolean;
}

/** What a payment status query sends: the key always, the PSP's reference once it gave one. */
const paymentQuery = (p: PaymentRecord) => ({
  idempotencyKey: p.idempotencyKey,
  createdAt: new Date(p.createdAt),
  ...(p.channelPaymentId ? { reference: p.channelPaymentId } : {}),
});

export function createKernel(deps: PaymentUseCaseDeps): Kernel {
  const { repository } = deps;
  const now = deps.now ?? (() => new Date());
  const mutex = deps.mutex ?? createKeyedMutex();
  const observer = deps.observer ?? noObserver;
  const recorder = createOutcomeRecorder(repository, deps.log, now, deps.onCallbackQueued, observer);
  const breaker = createPspBreaker(deps.pspBreaker, deps.log);

  const connectorOf = (name: string): Connector => {
    const c = deps.connectors.find(name);
    if (!c)
      throw new PaymentError(
        "failed_precondition",
        `the shop's PSP "${name}" is not available in this deployment`,
        `known connectors: ${deps.connectors.names().join(", ")}`,
      );
    return c;
  };
  const locked = <T>(shopId: string, paymentId: string, task: () => Promise<T>) => mutex.run(paymentLockKey(shopId, paymentId), task);
  const settling = createSettling();

  const kernel: Kernel = {
    deps,
    repository,
    now,
    production: deps.production ?? false,
    recorder,
    shopOf: (meta) => (meta.shop ? Promise.resolve(meta.shop) : deps.shops.get(meta.shopId)),
    connectorOf,
    pspContext: (shop, test) => ({ mode: test ? "test" : "live", credentials: test ? shop.testCredentials : shop.liveCredentials, shopId: shop.shopId }),
    locked,

    async serialized<T>(meta: RequestMeta, paymentId: string, task: (answer?: (value: T) => void) => Promise<T>, late: () => Promise<T>) {
      const failed = (err: unknown) => deps.log({ level: "error", msg: "background work failed", paymentId, shopId: meta.shopId, error: String(err) });
      let answered: ((value: T) => void) | undefined;
      const early = new Promise<T>((resolve) => (answered = resolve));
      const key = paymentLockKey(meta.shopId, paymentId);
      // Between instances, another one's reads could not wait for this write: answer after it.
      const answer = deps.lockWrites
        ? undefined
        : (value: T) => {
            if (!answered) return;
            answered(value);
            answered = undefined;
            settling.track(key, work, failed);
          };
      const work: Promise<T> = mutex.run(key, () => task(answer));
      const result = await withinBudget(Promise.race([early, work]), deps.pspTimeoutMs, failed);
      return result.done ? result.value : late();
    },
    settled: (shopId, paymentId) => settling.of(paymentLockKey(shopId, paymentId)),
    allSettled: () => settling.all(),

    callPsp: (call) => callThroughBreaker(call, breaker, deps, observer),

    async requirePayment(shopId, paymentId) {
      const payment = await repository.findPayment(shopId, paymentId);
      if (!payment) throw notFound(`payment ${paymentId} not found`);
      return payment;
    },

    async withPspStatus(meta, paymentId, decide) {
      const shop = await kernel.shopOf(meta);
      return locked(meta.shopId, paymentId, async () => {
        const p = await repository.findPayment(meta.shopId, paymentId);
        if (!p || !openStates.includes(p.state)) return p;
        const connector = connectorOf(p.psp);
        const ctx = kernel.pspContext(shop, p.test);
        const outcome = await kernel.callPsp({
          connector: connector.name,
          what: "payment status",
          meta,
          send: () => connector.paymentStatus(ctx, paymentQuery(p)),
        });
        return decide(p, outcome, connector, ctx);
      });
    },
  };
  return kernel;
}

/**
 * The work that goes on under a payment's lock after its answer was given (its final write):
 * readers outside the lock wait for it, so that nothing reads a payment older than its answer.
 */
function createSettling() {
  const after = new Map<string, Promise<void>>();
  const quietly = (failed: (err: unknown) => void) => (err: unknown) => {
    try {
      failed(err);
    } catch {
      // a log that throws must not keep the entry (or shutdown) waiting
    }
  };
  return {
    track(key: string, work: Promise<unknown>, failed: (err: unknown) => void) {
      const done = work.then(() => {}, quietly(failed));
      after.set(key, done);
      void done.then(() => {
        if (after.get(key) === done) after.delete(key);
      });
    },
    of: (key: string): Promise<void> => after.get(key) ?? Promise.resolve(),
    all: async (): Promise<void> => {
      while (after.size) await Promise.all(after.values());
    },
  };
}

/** Payments in live mode need a PSP that moves money: the sandbox never reports a live success. */
export function refuseLiveOnSandbox(k: Kernel, test: boolean, connector: Connector): void {
  if (!test && k.production && !connector.capabilities.movesMoney) {
    throw failedPrecondition(`this shop's PSP ${connector.name} moves no money and takes test payments only; live payments need a real PSP`);
  }
}
