import { describe, expect, it } from 'vitest';
import { normalizeUsage, stepUsages } from '../src/usage.js';

describe('usage normalisation', () => {
  it('reads our names, OpenAI, Anthropic and gen_ai names', () => {
    expect(
      normalizeUsage({ model: 'm', inputTokens: 10, outputTokens: 5, costUsd: 0.01 }),
    ).toMatchObject({
      model: 'm',
      inputTokens: 10,
      outputTokens: 5,
      totalTokens: 15,
      costUsd: 0.01,
    });
    expect(
      normalizeUsage({ model: 'gpt', prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }),
    ).toMatchObject({ inputTokens: 7, outputTokens: 3, totalTokens: 10, costUsd: undefined });
    // Anthropic's input_tokens leave out the cache reads and writes reported beside them
    expect(
      normalizeUsage({
        input_tokens: 4,
        output_tokens: 2,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 1,
      }),
    ).toMatchObject({
      inputTokens: 8,
      outputTokens: 2,
      totalTokens: 10,
      cacheReadTokens: 3,
      cacheWriteTokens: 1,
    });
    expect(
      normalizeUsage({
        'gen_ai.request.model': 'claude',
        'gen_ai.system': 'anthropic',
        'gen_ai.usage.input_tokens': 9,
        'gen_ai.usage.output_tokens': 1,
      }),
    ).toMatchObject({ model: 'claude', provider: 'anthropic', inputTokens: 9, outputTokens: 1 });
  });

  it('ignores nonsense and negative numbers', () => {
    expect(
      normalizeUsage({ inputTokens: -5, outputTokens: 'many', costUsd: Number.NaN }),
    ).toMatchObject({ inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: undefined });
  });

  it('takes one usage object or a list per step', () => {
    expect(stepUsages({ usage: { inputTokens: 1 } })).toHaveLength(1);
    expect(
      stepUsages({ usage: [{ inputTokens: 1 }, { inputTokens: 2 }, 'junk' as never] }),
    ).toHaveLength(2);
    expect(stepUsages({})).toEqual([]);
    expect(stepUsages(undefined as never)).toEqual([]);
  });
});
