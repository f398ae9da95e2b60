/**
 * Waits for `work` at most `ms`. The work goes on after a timeout (its result is applied by
 * the work itself); a late failure is handed to `onLateError` instead of going unhandled.
 */
export async function withinBudget<T>(work: Promise<T>, ms: number, onLateError: (err: unknown) => void): Promise<{ done: true; value: T } | { done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ done: false }>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), ms);
  });
  try {
    const result = await Promise.race([work.then((value) => ({ done: true as const, value })), timeout]);
    if (!result.done) work.catch(onLateError);
    return result;
  } finally {
    clearTimeout(timer);
  }
}
