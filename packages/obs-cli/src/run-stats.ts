/** What `runs` and `show` compute from a stored run: duration, tokens, cost, failures. */
import { stepUsages } from '@rlm/obs-core';
import type { StoredRun } from '@rlm/sink-jsonl';

/** Totals of one run. */
export interface RunStats {
  durationMs: number | null;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  failedSteps: number;
  /** Tokens and cost per model. */
  byModel: Record<
    string,
    { inputTokens: number; outputTokens: number; costUsd: number; calls: number }
  >;
}

export function runStats(run: StoredRun): RunStats {
  const stats: RunStats = {
    durationMs: null,
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
    failedSteps: 0,
    byModel: {},
  };
  const started = Date.parse(run.summary.startedAt ?? '');
  const finished = Date.parse(run.summary.finishedAt ?? '');
  if (Number.isFinite(started) && Number.isFinite(finished)) stats.durationMs = finished - started;
  for (const { event } of run.steps) {
    const observation = event.observation as { success?: unknown } | undefined;
    if (observation?.success === false) stats.failedSteps++;
    for (const usage of stepUsages(event)) {
      const cost = usage.costUsd ?? 0;
      stats.inputTokens += usage.inputTokens;
      stats.outputTokens += usage.outputTokens;
      stats.costUsd += cost;
      const model = usage.model ?? 'unknown';
      let m = stats.byModel[model];
      if (m === undefined) {
        m = { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0 };
        stats.byModel[model] = m;
      }
      m.inputTokens += usage.inputTokens;
      m.outputTokens += usage.outputTokens;
      m.costUsd += cost;
      m.calls++;
    }
  }
  return stats;
}

/** `30m`, `2h`, `7d`, `90s` ago, or an ISO date: the epoch milliseconds, or NaN. */
export function parseSince(value: string, now = Date.now()): number {
  const match = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(value.trim());
  if (match) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
      match[2] as 's'
    ];
    return now - Number(match[1]) * unit;
  }
  return Date.parse(value);
}
