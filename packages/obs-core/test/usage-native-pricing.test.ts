import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { RLMObservability } from '../src/coordinator.js';
import { priceUsage } from '../src/pricing.js';
import { MemorySink } from '../src/testing/memory-sink.js';
import { normalizeUsage } from '../src/usage.js';

interface Provider {
  id: string;
}
const prices = createRequire(import.meta.url)('@pydantic/genai-prices') as {
  calcPrice: (usage: Record<string, number>, model: string) => { total_price: number } | null;
  extractUsage: (
    provider: Provider,
    response: unknown,
    flavor?: string,
  ) => { model: string | null; usage: Record<string, number> };
  findProvider: (options: { providerId: string }) => Provider | undefined;
};

/** What genai-prices itself makes of a provider's response: its extractor, then its price. */
function genaiPrices(providerId: string, flavor: string, model: string, usage: unknown) {
  const extracted = prices.extractUsage(
    prices.findProvider({ providerId })!,
    { model, usage },
    flavor,
  );
  const u = extracted.usage;
  return {
    usd: prices.calcPrice(u, model)!.total_price,
    // every token once: input (cached included) and output
    tokens: (u.input_tokens ?? 0) + (u.output_tokens ?? 0),
    cacheRead: u.cache_read_tokens ?? 0,
    cacheWrite: u.cache_write_tokens ?? 0,
    input: u.input_tokens ?? 0,
  };
}

const sonnet = 'claude-sonnet-4-20250514';
/** Anthropic Messages API usage: `input_tokens` is the uncached part only. */
const anthropic = {
  input_tokens: 50,
  cache_read_input_tokens: 10_000,
  cache_creation_input_tokens: 2_000,
  output_tokens: 100,
};
/** OpenAI Chat Completions usage: 9,000 of the 10,000 prompt tokens were cached. */
const openaiChat = {
  prompt_tokens: 10_000,
  completion_tokens: 100,
  total_tokens: 10_100,
  prompt_tokens_details: { cached_tokens: 9_000, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 40 },
};
/** OpenAI Responses API usage. */
const openaiResponses = {
  input_tokens: 10_000,
  input_tokens_details: { cached_tokens: 9_000 },
  output_tokens: 100,
  output_tokens_details: { reasoning_tokens: 40 },
  total_tokens: 10_100,
};

describe('provider-native usage is priced and counted as genai-prices prices it', () => {
  it('Anthropic: cache reads and writes are input beside input_tokens (12,150 tokens, not 150)', () => {
    const truth = genaiPrices('anthropic', 'default', sonnet, anthropic);
    expect(truth.usd).toBeCloseTo(0.01215, 10);
    expect(priceUsage({ model: sonnet, ...anthropic })).toBeCloseTo(truth.usd, 10);
    expect(normalizeUsage({ model: sonnet, ...anthropic })).toMatchObject({
      inputTokens: truth.input,
      cacheReadTokens: truth.cacheRead,
      cacheWriteTokens: truth.cacheWrite,
      outputTokens: 100,
      totalTokens: truth.tokens,
    });
    expect(normalizeUsage(anthropic).totalTokens).toBe(12_150);
  });

  it('Anthropic: one-hour cache writes at their own rate', () => {
    const usage = {
      ...anthropic,
      cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1_500 },
    };
    const truth = genaiPrices('anthropic', 'default', sonnet, usage);
    expect(truth.usd).toBeGreaterThan(genaiPrices('anthropic', 'default', sonnet, anthropic).usd);
    expect(priceUsage({ model: sonnet, ...usage })).toBeCloseTo(truth.usd, 10);
  });

  it('OpenAI Chat Completions: prompt_tokens_details.cached_tokens are cache reads within the prompt', () => {
    const truth = genaiPrices('openai', 'chat', 'gpt-4.1', openaiChat);
    expect(truth.usd).toBeCloseTo(0.0073, 10);
    expect(priceUsage({ model: 'gpt-4.1', ...openaiChat })).toBeCloseTo(truth.usd, 10);
    expect(normalizeUsage({ model: 'gpt-4.1', ...openaiChat })).toMatchObject({
      inputTokens: 10_000,
      cacheReadTokens: 9_000,
      outputTokens: 100,
      reasoningTokens: 40,
      totalTokens: truth.tokens,
    });
  });

  it('OpenAI Responses: input_tokens_details.cached_tokens are cache reads within input_tokens', () => {
    const truth = genaiPrices('openai', 'responses', 'gpt-4.1', openaiResponses);
    expect(priceUsage({ model: 'gpt-4.1', ...openaiResponses })).toBeCloseTo(truth.usd, 10);
    expect(normalizeUsage(openaiResponses)).toMatchObject({
      inputTokens: 10_000,
      cacheReadTokens: 9_000,
      totalTokens: truth.tokens,
    });
  });

  it('Gemini and Bedrock Converse shapes too', () => {
    const gemini = {
      promptTokenCount: 10_000,
      cachedContentTokenCount: 8_000,
      candidatesTokenCount: 100,
      thoughtsTokenCount: 300,
      totalTokenCount: 10_400,
    };
    const flash = 'gemini-2.5-flash';
    const g = prices.extractUsage(
      prices.findProvider({ providerId: 'google' })!,
      { modelVersion: flash, usageMetadata: gemini },
      'default',
    ).usage;
    expect(priceUsage({ model: flash, ...gemini })).toBeCloseTo(
      prices.calcPrice(g, flash)!.total_price,
      10,
    );
    expect(normalizeUsage(gemini)).toMatchObject({
      inputTokens: 10_000,
      outputTokens: 400,
      cacheReadTokens: 8_000,
      reasoningTokens: 300,
      totalTokens: 10_400,
    });
    const bedrock = {
      inputTokens: 50,
      cacheReadInputTokens: 10_000,
      cacheWriteInputTokens: 2_000,
      outputTokens: 100,
    };
    const truth = genaiPrices('aws', 'default', sonnet, bedrock);
    expect(priceUsage({ model: sonnet, ...bedrock })).toBeCloseTo(truth.usd, 10);
    expect(normalizeUsage(bedrock)).toMatchObject({
      inputTokens: 12_050,
      totalTokens: truth.tokens,
    });
  });

  it('the coordinator prices native usage on a step as genai-prices does; our own shape is unchanged', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], { flushOnExit: false, logger: false });
    const run = obs.startRun({});
    run.step({ usage: { model: sonnet, ...anthropic } });
    run.step({ usage: { model: 'gpt-4.1', ...openaiChat } });
    run.step({ usage: [{ model: 'gpt-4.1', ...openaiResponses }] });
    // the run API's shape: input includes the cached tokens
    run.step({
      usage: {
        model: 'gpt-4.1',
        inputTokens: 10_000,
        cacheReadTokens: 9_000,
        outputTokens: 100,
      },
    });
    const usage = memory.stepsOf(run.id).map((s) => s.event.usage) as unknown[];
    const costOf = (u: unknown) =>
      (Array.isArray(u) ? u[0] : u) as Record<string, number> & { costUsd: number };
    expect(costOf(usage[0]).costUsd).toBeCloseTo(
      genaiPrices('anthropic', 'default', sonnet, anthropic).usd,
      10,
    );
    const chat = genaiPrices('openai', 'chat', 'gpt-4.1', openaiChat).usd;
    expect(costOf(usage[1]).costUsd).toBeCloseTo(chat, 10);
    expect(costOf(usage[2]).costUsd).toBeCloseTo(
      genaiPrices('openai', 'responses', 'gpt-4.1', openaiResponses).usd,
      10,
    );
    expect(costOf(usage[3]).costUsd).toBeCloseTo(chat, 10);
    // the caller's fields are kept as they were given
    expect(costOf(usage[0])).toMatchObject(anthropic);
  });
});
