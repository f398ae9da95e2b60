/**
 * A pass run every `intervalMs` after the previous one ends (a function: asked after each pass, for
 * work that comes back sooner while some is left); stop() waits for a pass under way.
 */
export interface PeriodicTask {
  start(runFirstPassNow?: boolean): void;
  stop(): Promise<void>;
  readonly running: boolean;
}

export function createPeriodicTask(pass: () => Promise<unknown>, intervalMs: number | (() => number), onError: (err: unknown) => void): PeriodicTask {
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> | undefined;
  let running = false;

  function run(): void {
    current = pass()
      .catch(onError)
      .finally(() => {
        current = undefined;
        schedule();
      });
  }

  function schedule(): void {
    if (!running) return;
    timer = setTimeout(run, typeof intervalMs === "number" ? intervalMs : intervalMs());
    timer.unref();
  }

  return {
    start(runFirstPassNow = false) {
      if (running) return;
      running = true;
      if (runFirstPassNow) run();
      else schedule();
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      await current;
    },
    get running() {
      return running;
    },
  };
}
