/** What `runs` and `show` compute from a stored run: duration, tokens, cost, failures. */
import type { StepEvent } from '@rlm/obs-core';
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

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** The usage entries of a step: `usage` may be one object or a list (several LLM calls). */
export function usagesOf(event: StepEvent): Array<Record<string, unknown>> {
  const usage = event.usage as unknown;
  if (Array.isArray(usage))
    return usage.filter((u): u is Record<string, unknown> => typeof u === 'object' && u !== null);
  return typeof usage === 'object' && usage !== null ? [usage as Record<string, unknown>] : [];
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
    for (const usage of usagesOf(event)) {
      const input = num(usage.inputTokens ?? usage.input_tokens);
      const output = num(usage.outputTokens ?? usage.output_tokens);
      const cost = num(usage.costUsd ?? usage.cost_usd ?? usage.cost);
      stats.inputTokens += input;
      stats.outputTokens += output;
      stats.costUsd += cost;
      const model = typeof usage.model === 'string' ? usage.model : 'unknown';
      let m = stats.byModel[model];
      if (m === undefined) {
        m = { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0 };
        stats.byModel[model] = m;
      }
      m.inputTokens += input;
      m.outputTokens += output;
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
