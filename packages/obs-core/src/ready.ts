/**
 * How long a sink factory (`createSink`, `fromEnv`) waits for its backend check by default: a
 * backend that does not answer must not hold up the application's start (an SDK client may
 * retry for up to a minute).
 */
export const READY_WAIT_MS = 5_000;

/**
 * Waits for a sink's backend check (`ready`) at most `maxMs`; the check goes on in the
 * background and the sink's `status()` shows its outcome once there is one. Rejects only if
 * `ready` rejects first.
 *
 * @example
 * ```ts
 * export async function createSink(options: MyOptions): Promise<MySink> {
 *   const sink = new MySink(options);
 *   await readyOrLater(sink.ready);
 *   return sink;
 * }
 * ```
 */
export async function readyOrLater(
  ready: Promise<unknown>,
  maxMs: number = READY_WAIT_MS,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      ready,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, maxMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `promise`, holding the event loop while it is pending — for a sink whose background work
 * (retries, backoff) runs on unref'ed timers so that a finished process never waits for a
 * backend that is down: whoever awaits the sink (`ready`, a flush, `check()`) still gets an
 * answer. With `timeoutMs` (the time left of the coordinator's deadline, as `forceFlush()` and
 * `shutdown()` receive it) the hold ends at that deadline: the result rejects saying `what`
 * did not finish in time, and the work goes on without holding the process.
 *
 * @example
 * ```ts
 * forceFlush(options?: SinkFinishOptions): Promise<void> {
 *   return holdWhilePending(this.#flush(), options?.timeoutMs);
 * }
 * ```
 */
export function holdWhilePending<T>(
  promise: Promise<T>,
  timeoutMs?: number,
  what = 'flush',
): Promise<T> {
  const hold = setInterval(() => undefined, 2 ** 30);
  if (typeof timeoutMs !== 'number' || !(timeoutMs < 2 ** 31 - 1))
    return promise.finally(() => clearInterval(hold));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${Math.round(timeoutMs)} ms`)),
      Math.max(0, timeoutMs),
    );
  });
  return Promise.race([promise, deadline]).finally(() => {
    clearInterval(hold);
    clearTimeout(timer);
  });
}
