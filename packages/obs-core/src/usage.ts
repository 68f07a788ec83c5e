/**
 * LLM usage normalisation: steps report usage in whatever shape their client gives (OpenAI's
 * `prompt_tokens`, Anthropic's `input_tokens`, OpenTelemetry's `gen_ai.usage.*`, or ours);
 * sinks and tools read one shape.
 */
import type { StepEvent } from './contract.js';

/** One LLM call's usage, normalised. Missing numbers are 0; missing names are undefined. */
export interface NormalizedUsage {
  model: string | undefined;
  provider: string | undefined;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  /** US dollars when the caller gave a cost, else undefined. */
  costUsd: number | undefined;
}

function pick(source: Record<string, unknown>, keys: readonly string[]): unknown {
  for (const key of keys) {
    const value = source[key];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/**
 * Normalises one usage record.
 *
 * @example
 * ```ts
 * normalizeUsage({ model: 'gpt-4.1', prompt_tokens: 10, completion_tokens: 5 });
 * // { model: 'gpt-4.1', inputTokens: 10, outputTokens: 5, totalTokens: 15, ... }
 * ```
 */
export function normalizeUsage(usage: Record<string, unknown>): NormalizedUsage {
  // Fast path: our own field names, as the run API documents them.
  if (
    typeof usage.inputTokens === 'number' &&
    typeof usage.outputTokens === 'number' &&
    usage.input_tokens === undefined
  ) {
    const inputTokens = count(usage.inputTokens);
    const outputTokens = count(usage.outputTokens);
    const cost = usage.costUsd;
    return {
      model: typeof usage.model === 'string' ? usage.model : undefined,
      provider: typeof usage.provider === 'string' ? usage.provider : undefined,
      inputTokens,
      outputTokens,
      totalTokens: count(usage.totalTokens) || inputTokens + outputTokens,
      cacheReadTokens: count(usage.cacheReadTokens),
      cacheWriteTokens: count(usage.cacheWriteTokens),
      reasoningTokens: count(usage.reasoningTokens),
      costUsd: typeof cost === 'number' && Number.isFinite(cost) && cost >= 0 ? cost : undefined,
    };
  }
  const inputTokens = count(
    pick(usage, [
      'inputTokens',
      'input_tokens',
      'prompt_tokens',
      'promptTokens',
      'gen_ai.usage.input_tokens',
    ]),
  );
  const outputTokens = count(
    pick(usage, [
      'outputTokens',
      'output_tokens',
      'completion_tokens',
      'completionTokens',
      'gen_ai.usage.output_tokens',
    ]),
  );
  const total = count(pick(usage, ['totalTokens', 'total_tokens']));
  const cost = pick(usage, ['costUsd', 'cost_usd', 'cost', 'total_cost']);
  const model = pick(usage, ['model', 'gen_ai.request.model', 'model_name']);
  const provider = pick(usage, ['provider', 'gen_ai.system', 'gen_ai.provider.name']);
  return {
    model: typeof model === 'string' ? model : undefined,
    provider: typeof provider === 'string' ? provider : undefined,
    inputTokens,
    outputTokens,
    totalTokens: total || inputTokens + outputTokens,
    cacheReadTokens: count(
      pick(usage, ['cacheReadTokens', 'cache_read_tokens', 'cache_read_input_tokens']),
    ),
    cacheWriteTokens: count(
      pick(usage, ['cacheWriteTokens', 'cache_write_tokens', 'cache_creation_input_tokens']),
    ),
    reasoningTokens: count(pick(usage, ['reasoningTokens', 'reasoning_tokens'])),
    costUsd: typeof cost === 'number' && Number.isFinite(cost) && cost >= 0 ? cost : undefined,
  };
}

/** The usage records of a step (`usage` may be one object or a list of LLM calls), normalised. */
export function stepUsages(event: StepEvent): NormalizedUsage[] {
  const usage = event?.usage as unknown;
  const list = Array.isArray(usage) ? usage : usage !== undefined && usage !== null ? [usage] : [];
  return list
    .filter(
      (u): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u),
    )
    .map(normalizeUsage);
}
