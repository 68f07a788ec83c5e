import type { RLMObservabilitySink, SinkCheckResult } from '@rlm/obs-core';

/** How long `doctor` and `replay` wait for a sink's `check()`. */
export const CHECK_TIMEOUT_MS = 15_000;

/**
 * A sink's `check()`, answered within {@link CHECK_TIMEOUT_MS}: a check that throws or does not
 * answer in time is a problem, never an exception or a wait without end.
 */
export async function checkSink(
  sink: RLMObservabilitySink & { check: () => Promise<SinkCheckResult> },
  failedFix: string,
): Promise<SinkCheckResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race<SinkCheckResult>([
      sink.check().catch((error: unknown) => ({
        ok: false,
        problems: [
          {
            problem: `check failed: ${error instanceof Error ? error.message : String(error)}`,
            fix: failedFix,
          },
        ],
      })),
      new Promise<SinkCheckResult>((resolve) => {
        timer = setTimeout(
          () =>
            resolve({
              ok: false,
              problems: [
                {
                  problem: `no answer within ${CHECK_TIMEOUT_MS / 1000}s`,
                  fix: 'check that the backend is up and reachable from here',
                },
              ],
            }),
          CHECK_TIMEOUT_MS,
        );
        timer.unref?.();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
