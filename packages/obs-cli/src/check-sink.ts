import type { RLMObservabilitySink, SinkCheckResult } from '@rlm/obs-core';

/** How long `doctor` and `replay` wait for a sink's `check()`. */
export const CHECK_TIMEOUT_MS = 15_000;

function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'unprintable error';
  }
}

/**
 * The answer of a `check()` when it has the contract's shape (`ok` a boolean, `problems` a
 * list of `{ problem, fix }` strings, `detail` a string if any), else `undefined`.
 */
function validResult(value: unknown): SinkCheckResult | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { ok, problems, detail } = value as Record<string, unknown>;
  if (typeof ok !== 'boolean' || !Array.isArray(problems)) return undefined;
  const checked: SinkCheckResult['problems'] = [];
  for (const p of problems) {
    if (p === null || typeof p !== 'object') return undefined;
    const { problem, fix } = p as Record<string, unknown>;
    if (typeof problem !== 'string' || typeof fix !== 'string') return undefined;
    checked.push({ problem, fix });
  }
  return { ok, problems: checked, ...(typeof detail === 'string' ? { detail } : {}) };
}

/** What `doctor` reports for a check result it cannot use. */
const INVALID_RESULT: SinkCheckResult = {
  ok: false,
  problems: [
    {
      problem:
        'check() returned an invalid result (expected { ok: boolean, problems: [{ problem, fix }] })',
      fix: "report it to the sink's author; see the sink package README",
    },
  ],
};

/**
 * {@link validResult}, where reading the answer may throw (a getter, a Proxy): such an answer
 * is as invalid as one of the wrong shape — and what it threw (which may quote the sink's
 * settings) is not shown.
 */
function readResult(value: unknown): SinkCheckResult {
  try {
    return validResult(value) ?? INVALID_RESULT;
  } catch {
    return INVALID_RESULT;
  }
}

/**
 * A sink's `check()`, answered within {@link CHECK_TIMEOUT_MS}: a check that throws (at once
 * or later), answers something other than a check result (or one whose fields throw when
 * read), or does not answer in time is a problem of that sink, never an exception or a wait
 * without end. The deadline's timer keeps
 * the process alive while the check runs (a check that waits on an unref'ed timer would
 * otherwise let Node end the command half-way); it is cleared as soon as the check answers.
 */
export async function checkSink(
  sink: RLMObservabilitySink & { check: () => Promise<SinkCheckResult> },
  failedFix: string,
): Promise<SinkCheckResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race<SinkCheckResult>([
      Promise.resolve()
        .then(() => sink.check())
        .then(
          (value: unknown): SinkCheckResult => readResult(value),
          (error: unknown): SinkCheckResult => ({
            ok: false,
            problems: [{ problem: `check failed: ${messageOf(error)}`, fix: failedFix }],
          }),
        ),
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
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
