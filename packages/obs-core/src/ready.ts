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
