/**
 * Replay: re-deliver recorded runs through a sink with their original timestamps — the
 * backfill after an outage. It goes through a coordinator, so the sink gets exactly the hook
 * calls it would have had live, in order, with counters and one flush at the end.
 */
import { RLMObservability, type RLMObservabilitySink } from '@rlm/obs-core';
import type { JsonlStore } from '@rlm/sink-jsonl';

/** Progress after each run. */
export interface ReplayProgress {
  done: number;
  total: number;
  runId: string;
}

/** What a replay delivered. */
export interface ReplayReport {
  runs: number;
  events: number;
  delivered: number;
  failed: number;
  dropped: number;
  ok: boolean;
}

/**
 * Replays runs from a JSONL store into a sink. The sink is not shut down (it may be a
 * configured one the caller owns); it is flushed.
 *
 * @example
 * ```ts
 * const report = await replayRuns(openJsonlStore(dir), ['run-1'], sink);
 * ```
 */
export async function replayRuns(
  store: JsonlStore,
  runIds: readonly string[],
  sink: RLMObservabilitySink,
  options: { onProgress?: (progress: ReplayProgress) => void; flushTimeoutMs?: number } = {},
): Promise<ReplayReport> {
  // Records are already sanitized: redaction again is harmless but pointless.
  const obs = RLMObservability.withSinks([sink], {
    flushOnExit: false,
    redact: false,
    logger: false,
    maxQueueSize: 1_000_000,
  });
  let events = 0;
  let done = 0;
  for (const runId of runIds) {
    const run = await store.readRun(runId);
    if (run.start) {
      obs.onRunStart(runId, run.start);
      events++;
    }
    for (const step of run.steps) {
      obs.onStep(runId, step);
      events++;
    }
    if (run.end) {
      obs.onRunEnd(runId, run.end);
      events++;
    }
    done++;
    options.onProgress?.({ done, total: runIds.length, runId });
    // Let an asynchronous sink make progress between runs.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const report = await obs.flush({ timeoutMs: options.flushTimeoutMs ?? 60_000 });
  const counters = report.sinks[0]!;
  return {
    runs: runIds.length,
    events,
    delivered: counters.delivered,
    failed: counters.failed,
    dropped: counters.dropped,
    // Every event went through; `delivered` is higher where the sink also keeps the scores
    // the coordinator sends at each run's end.
    ok:
      report.ok &&
      counters.failed === 0 &&
      counters.dropped === 0 &&
      counters.pending === 0 &&
      counters.delivered >= events,
  };
}
