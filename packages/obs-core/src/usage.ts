/**
 * LLM usage normalisation: steps report usage in whatever shape their client gives (OpenAI's
 * `prompt_tokens`, Anthropic's `input_tokens`, Gemini's `promptTokenCount`, OpenTelemetry's
 * `gen_ai.usage.*`, or ours); sinks and tools read one shape, in which input tokens include
 * cached ones.
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

/** A number inside a nested object (`usage.prompt_tokens_details.cached_tokens`). */
function nested(source: Record<string, unknown>, key: string, inner: string): unknown {
  const value = source[key];
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[inner]
    : undefined;
}

/**
 * Whether a record is in the run API's own shape (`inputTokens`, `outputTokens`, ...), which
 * the fast paths read directly. Not AWS Bedrock's Converse shape, which shares `inputTokens`
 * but reports cache tokens beside it (`cacheReadInputTokens`), not within.
 * @internal
 */
export function isOwnUsageShape(usage: Record<string, unknown>): boolean {
  return (
    typeof usage.inputTokens === 'number' &&
    usage.input_tokens === undefined &&
    usage.cacheReadInputTokens === undefined &&
    usage.cacheWriteInputTokens === undefined
  );
}

/**
 * Normalises one usage record. Input tokens include cached ones (cache reads and writes), as
 * in the run API's own shape and in OpenAI's, Gemini's and the OpenTelemetry conventions'.
 * Each provider's native shape is read as `@pydantic/genai-prices` reads it:
 *
 * - Anthropic (`input_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`) and
 *   AWS Bedrock Converse (`inputTokens`, `cacheReadInputTokens`, `cacheWriteInputTokens`)
 *   report the cache tokens beside the input tokens: they are added to them.
 * - OpenAI Chat Completions (`prompt_tokens_details.cached_tokens`) and Responses
 *   (`input_tokens_details.cached_tokens`) report cache reads within the input tokens, as do
 *   Gemini (`promptTokenCount`, `cachedContentTokenCount`; its `thoughtsTokenCount` is output
 *   beside `candidatesTokenCount`), LangChain (`input_token_details.cache_read`) and the AI
 *   SDK (`cachedInputTokens`).
 *
 * `totalTokens` is the reported total, else input (cached included) plus output: every
 * token once.
 *
 * @example
 * ```ts
 * normalizeUsage({ model: 'gpt-4.1', prompt_tokens: 10, completion_tokens: 5 });
 * // { model: 'gpt-4.1', inputTokens: 10, outputTokens: 5, totalTokens: 15, ... }
 * normalizeUsage({ input_tokens: 50, cache_read_input_tokens: 10000, output_tokens: 100 });
 * // { inputTokens: 10050, cacheReadTokens: 10000, outputTokens: 100, totalTokens: 10150, ... }
 * ```
 */
export function normalizeUsage(usage: Record<string, unknown>): NormalizedUsage {
  // Fast path: our own field names, as the run API documents them.
  if (typeof usage.outputTokens === 'number' && isOwnUsageShape(usage)) {
    const inputTokens = count(usage.inputTokens);
    const outputTokens = count(usage.outputTokens);
    const cost = usage.costUsd;
    return {
      model: typeof usage.model === 'string' ? usage.model : undefined,
      provider: typeof usage.provider === 'string' ? usage.provider : undefined,
      inputTokens,
      outputTokens,
      totalTokens: count(usage.totalTokens) || inputTokens + outputTokens,
      cacheReadTokens: count(usage.cacheReadTokens) || count(usage.cachedInputTokens),
      cacheWriteTokens: count(usage.cacheWriteTokens),
      reasoningTokens: count(usage.reasoningTokens),
      costUsd: typeof cost === 'number' && Number.isFinite(cost) && cost >= 0 ? cost : undefined,
    };
  }
  // Cache tokens reported beside the input tokens (Anthropic, Bedrock Converse).
  const readBeside = count(usage.cache_read_input_tokens) || count(usage.cacheReadInputTokens);
  const writeBeside =
    count(usage.cache_creation_input_tokens) || count(usage.cacheWriteInputTokens);
  const inputTokens =
    count(
      pick(usage, [
        'inputTokens',
        'input_tokens',
        'prompt_tokens',
        'promptTokens',
        'gen_ai.usage.input_tokens',
        'promptTokenCount',
      ]),
    ) +
    // Gemini: the tool-use prompt is input beside the prompt.
    count(usage.toolUsePromptTokenCount) +
    readBeside +
    writeBeside;
  const outputTokens =
    count(
      pick(usage, [
        'outputTokens',
        'output_tokens',
        'completion_tokens',
        'completionTokens',
        'gen_ai.usage.output_tokens',
      ]),
    ) ||
    // Gemini: thinking tokens are output beside the candidates' tokens.
    count(usage.candidatesTokenCount) + count(usage.thoughtsTokenCount);
  const total = count(pick(usage, ['totalTokens', 'total_tokens', 'totalTokenCount']));
  const cost = pick(usage, ['costUsd', 'cost_usd', 'cost', 'total_cost']);
  const model = pick(usage, ['model', 'gen_ai.request.model', 'model_name', 'modelVersion']);
  const provider = pick(usage, ['provider', 'gen_ai.system', 'gen_ai.provider.name']);
  return {
    model: typeof model === 'string' ? model : undefined,
    provider: typeof provider === 'string' ? provider : undefined,
    inputTokens,
    outputTokens,
    // A total below input (cached included) plus output left the cache tokens out.
    totalTokens: Math.max(total, inputTokens + outputTokens),
    cacheReadTokens:
      readBeside ||
      count(
        pick(usage, [
          'cacheReadTokens',
          'cache_read_tokens',
          'cachedInputTokens',
          'gen_ai.usage.cache_read.input_tokens',
          'cachedContentTokenCount',
        ]),
      ) ||
      count(nested(usage, 'prompt_tokens_details', 'cached_tokens')) ||
      count(nested(usage, 'input_tokens_details', 'cached_tokens')) ||
      count(nested(usage, 'input_token_details', 'cache_read')),
    cacheWriteTokens:
      writeBeside ||
      count(
        pick(usage, [
          'cacheWriteTokens',
          'cache_write_tokens',
          'gen_ai.usage.cache_creation.input_tokens',
        ]),
      ) ||
      count(nested(usage, 'prompt_tokens_details', 'cache_write_tokens')) ||
      count(nested(usage, 'input_tokens_details', 'cache_write_tokens')) ||
      count(nested(usage, 'input_token_details', 'cache_creation')),
    reasoningTokens:
      count(pick(usage, ['reasoningTokens', 'reasoning_tokens', 'thoughtsTokenCount'])) ||
      count(nested(usage, 'completion_tokens_details', 'reasoning_tokens')) ||
      count(nested(usage, 'output_tokens_details', 'reasoning_tokens')) ||
      count(nested(usage, 'output_tokens_details', 'thinking_tokens')) ||
      count(nested(usage, 'output_token_details', 'reasoning')),
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
