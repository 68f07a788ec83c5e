/**
 * Replay: re-deliver recorded runs through a sink with their original timestamps — the
 * backfill after an outage. It goes through a coordinator, so the sink gets exactly the hook
 * calls it would have had live, in order, with counters and one flush at the end.
 *
 * Stored scores and feedback are replayed through `onScore` too (those given before the run
 * ended go before its end, later ones after it), except the end-of-run `reward` and
 * `completed` (`source: 'rlm-obs'`): the coordinator makes them again at each `onRunEnd`, so
 * replaying them would deliver them twice.
 *
 * Steps recorded without their own timing (no `startedAt`) are replayed with the times they
 * were recorded — what the sinks took live: a step started when the previous one ended (the
 * run's start for the first) and ended when its line was written. Without that, a span
 * backend would end the first such step at the time of the replay, hours or days later.
 */
import {
  type ContentPolicy,
  contentPolicy,
  createRedactor,
  epochMs,
  type FlushReport,
  type RecordContent,
  RLMObservability,
  type RLMObservabilitySink,
  type RunStart,
  type ScoreRecord,
  type StepRecord,
} from '@rlm/obs-core';
import type { JsonlStore } from '@rlm/sink-jsonl';

/** Events replayed between two flushes within a run. */
const REPLAY_BATCH = 500;

/** Progress after each run. */
export interface ReplayProgress {
  done: number;
  total: number;
  runId: string;
}

/** What a replay delivered. */
export interface ReplayReport {
  runs: number;
  /** Recorded events replayed: starts, steps, ends, and stored scores for sinks that keep them. */
  events: number;
  /**
   * Events the sink took and, as far as it told, delivered: `handedToSink` when every flush
   * succeeded, `null` when a flush failed (how many reached the backend is then not known).
   */
  delivered: number | null;
  /**
   * Events the sink took (its hooks returned): the recorded ones and the end-of-run `reward`
   * and `completed` scores the coordinator makes again (`regenerated`).
   */
  handedToSink: number;
  /** The end-of-run `reward` and `completed` scores made again at each run's end. */
  regenerated: number;
  failed: number;
  dropped: number;
  ok: boolean;
  /** Why not everything was delivered (the sink's flush error, scrubbed), when known. */
  error?: string;
}

/**
 * The step as replay delivers it: untouched when it has its own `startedAt` (or no record
 * time is known), else with `startedAt` = where the previous step ended and, unless it has
 * its own `durationMs`, the time until its line was written. Also where this step ended.
 */
export function withRecordedTimes(
  step: StepRecord,
  recordedAt: string | undefined,
  previousEndMs: number | undefined,
): { step: StepRecord; endMs: number | undefined } {
  const event = step.event;
  const recordedMs = epochMs(recordedAt);
  const ownStart = epochMs(event?.startedAt);
  const ownDuration =
    typeof event?.durationMs === 'number' &&
    Number.isFinite(event.durationMs) &&
    event.durationMs >= 0
      ? event.durationMs
      : undefined;
  if (ownStart !== undefined || recordedMs === undefined || typeof event !== 'object' || !event) {
    const endMs =
      ownStart !== undefined && ownDuration !== undefined ? ownStart + ownDuration : recordedMs;
    return { step, endMs };
  }
  const startMs =
    previousEndMs !== undefined && previousEndMs <= recordedMs ? previousEndMs : recordedMs;
  const durationMs = ownDuration ?? recordedMs - startMs;
  return {
    step: { ...step, event: { ...event, startedAt: new Date(startMs).toISOString(), durationMs } },
    endMs: startMs + durationMs,
  };
}

/** Options of {@link replayRuns}. */
export interface ReplayRunsOptions {
  onProgress?: (progress: ReplayProgress) => void;
  flushTimeoutMs?: number;
  /**
   * The content switch in force now (the config's `recordContent`): what it withholds is
   * withheld from a sink that is not local, on top of what each run withheld when it was
   * recorded (its start line's `record_content`). @defaultValue `true`
   */
  recordContent?: RecordContent;
}

/**
 * What a replayed run withholds: what it withheld live, and what the content switch in force
 * now withholds. `undefined` when nothing (the run then inherits like any other).
 */
function replayedPolicy(
  recorded: ContentPolicy | undefined,
  now: ContentPolicy,
): ContentPolicy | undefined {
  const policy = {
    inputs: now.inputs && (recorded?.inputs ?? true),
    outputs: now.outputs && (recorded?.outputs ?? true),
  };
  return policy.inputs && policy.outputs ? undefined : policy;
}

/**
 * Replays runs from a JSONL store into a sink. The sink is not shut down (it may be a
 * configured one the caller owns); it is flushed.
 *
 * Content a run withheld from remote sinks when it was recorded (`recordContent: false`, per
 * run or in the config) is withheld again — a sink that is not local gets
 * `[content omitted: …]` as it did live — as is what `options.recordContent` withholds.
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
  options: ReplayRunsOptions = {},
): Promise<ReplayReport> {
  const now = contentPolicy(options.recordContent);
  const scrubber = createRedactor();
  // Records are already sanitized: redaction again is harmless but pointless.
  const obs = RLMObservability.withSinks([sink], {
    flushOnExit: false,
    redact: false,
    logger: false,
    maxQueueSize: 1_000_000,
    ...(options.recordContent !== undefined ? { recordContent: options.recordContent } : {}),
  });
  let events = 0;
  let done = 0;
  // A long run is flushed every REPLAY_BATCH events: a sink's own export queue (a span batch
  // processor holds 2048 by default) would drop the rest of a burst of thousands of steps.
  let sinceFlush = 0;
  let flushesOk = true;
  let flushError: string | undefined;
  const flushTimeoutMs = options.flushTimeoutMs ?? 60_000;
  /** A flush's failure, as the sink reported it (the first one is kept). */
  const noteFlush = (result: FlushReport): void => {
    if (result.ok) return;
    flushesOk = false;
    const sinkResult = result.sinks[0];
    flushError ??=
      sinkResult?.error ??
      (sinkResult?.deadlineExceeded
        ? `the sink did not finish flushing within ${Math.round(flushTimeoutMs / 1000)}s`
        : undefined);
  };
  const drain = async (): Promise<void> => {
    sinceFlush = 0;
    noteFlush(await obs.flush({ timeoutMs: flushTimeoutMs }));
  };
  // Scores reach only sinks that keep them; the others get (and count) none.
  const keepsScores = typeof sink.onScore === 'function';
  const score = (runId: string, record: ScoreRecord): void => {
    obs.onScore(runId, record);
    if (keepsScores) events++;
  };
  for (const runId of runIds) {
    const run = await store.readRun(runId);
    if (run.start) {
      const { recordContent: recorded, ...start } = run.start;
      const policy = replayedPolicy(recorded, now);
      // The coordinator withholds the run's content from sinks that are not local.
      obs.onRunStart(runId, (policy ? { ...start, recordContent: policy } : start) as RunStart);
      events++;
    }
    // Where the previous step ended, as the sinks computed it live.
    let previousEnd = epochMs(run.start?.startedAt);
    for (let i = 0; i < run.steps.length; i++) {
      const { step, endMs } = withRecordedTimes(run.steps[i]!, run.stepTimes[i], previousEnd);
      previousEnd = endMs ?? previousEnd;
      obs.onStep(runId, step);
      events++;
      if (++sinceFlush >= REPLAY_BATCH) await drain();
    }
    // Which scores came before the end: the end-of-run ones mark the end's place in the
    // file; without them, the times decide.
    const boundary = run.scores.findIndex((s) => s.source === 'rlm-obs');
    const endedAt = Date.parse(String(run.end?.result.finishedAt ?? ''));
    const before: ScoreRecord[] = [];
    const after: ScoreRecord[] = [];
    run.scores.forEach((s, index) => {
      if (s.source === 'rlm-obs') return;
      const late =
        run.end !== undefined &&
        (boundary >= 0 ? index > boundary : Number.isFinite(endedAt) && Date.parse(s.at) > endedAt);
      (late ? after : before).push(s);
    });
    for (const s of before) score(runId, s);
    if (run.end) {
      obs.onRunEnd(runId, run.end);
      events++;
    }
    for (const s of after) score(runId, s);
    done++;
    options.onProgress?.({ done, total: runIds.length, runId });
    // Let an asynchronous sink make progress between runs.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const report = await obs.flush({ timeoutMs: flushTimeoutMs });
  noteFlush(report);
  const counters = report.sinks[0]!;
  // Every event the coordinator handed over ends in one of the counters; those beyond the
  // recorded events are the reward and completed scores it made again at each run's end.
  const handled = counters.delivered + counters.failed + counters.dropped + counters.pending;
  const regenerated = Math.max(0, handled - events);
  const ok =
    flushesOk &&
    counters.failed === 0 &&
    counters.dropped === 0 &&
    counters.pending === 0 &&
    counters.delivered >= events;
  let error = flushError;
  if (error === undefined && !ok) error = lastError(sink);
  return {
    runs: runIds.length,
    events,
    delivered: flushesOk ? counters.delivered : null,
    handedToSink: counters.delivered,
    regenerated,
    failed: counters.failed,
    dropped: counters.dropped,
    ok,
    // The sinks' own messages are scrubbed by them and by the coordinator; this is the last line.
    ...(error !== undefined ? { error: scrubber.scrub(error) } : {}),
  };
}

/** The sink's own `last_error` (a remote sink's status carries it once an export failed). */
function lastError(sink: RLMObservabilitySink): string | undefined {
  try {
    const status = sink.status() as unknown as Record<string, unknown>;
    const value = status.last_error ?? status.lastError;
    return typeof value === 'string' && value ? value : undefined;
  } catch {
    return undefined;
  }
}
