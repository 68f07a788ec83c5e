/**
 * Token columns of `steps` and `llm_calls` for usage as the providers' SDKs return it, the
 * same as core's `normalizeUsage` (and so as the sinks and the priced cost count them).
 */
import * as path from 'node:path';
import { normalizeUsage, RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';
import { afterAll, expect, it } from 'vitest';
import { QueryEngine } from '../src/query/engine.js';
import { tempDir } from './cli-helpers.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

const USAGES = [
  // Anthropic: input_tokens leaves the cache reads and writes out.
  {
    model: 'claude-3-5-haiku-latest',
    input_tokens: 50,
    cache_read_input_tokens: 10_000,
    cache_creation_input_tokens: 2_000,
    output_tokens: 100,
  },
  // OpenAI Chat Completions: prompt_tokens includes the cached ones.
  {
    model: 'gpt-4o',
    prompt_tokens: 10_000,
    completion_tokens: 100,
    prompt_tokens_details: { cached_tokens: 9_000 },
    completion_tokens_details: { reasoning_tokens: 7 },
  },
  // OpenAI Responses.
  {
    model: 'gpt-4o',
    input_tokens: 5_000,
    output_tokens: 50,
    input_tokens_details: { cached_tokens: 4_000 },
    output_tokens_details: { reasoning_tokens: 3 },
  },
  // Gemini: thinking tokens are output beside the candidates'.
  {
    model: 'gemini-2.0-flash',
    promptTokenCount: 300,
    candidatesTokenCount: 40,
    thoughtsTokenCount: 5,
    cachedContentTokenCount: 100,
  },
  // Bedrock Converse: camelCase, the cache beside the input.
  {
    model: 'anthropic.claude-3-5-haiku-20241022-v1:0',
    inputTokens: 20,
    outputTokens: 10,
    cacheReadInputTokens: 300,
    cacheWriteInputTokens: 40,
  },
  // rlm-obs's own shape: input includes cached.
  { model: 'gpt-4.1-mini', inputTokens: 812, outputTokens: 64, cacheReadTokens: 12 },
];

it('count every provider shape as normalizeUsage does', async () => {
  const dir = path.join(tmp.dir, 'native');
  const obs = RLMObservability.withSinks([createJsonlSink({ dir })], { flushOnExit: false });
  const run = obs.startRun({ runId: 'native', task: 't' });
  for (const usage of USAGES) run.step({ reward: 1, usage });
  run.end();
  await obs.shutdown();
  const expected = USAGES.map((usage, i) => {
    const n = normalizeUsage(usage);
    return {
      step: i + 1,
      input_tokens: n.inputTokens,
      output_tokens: n.outputTokens,
      cache_read_tokens: n.cacheReadTokens,
      cache_write_tokens: n.cacheWriteTokens,
      reasoning_tokens: n.reasoningTokens,
    };
  });
  const engine = await QueryEngine.open(dir);
  try {
    const calls = await engine.query(
      'SELECT step, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens FROM llm_calls ORDER BY step',
    );
    expect(
      calls.rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)]))),
    ).toEqual(expected);
    const steps = await engine.query(
      'SELECT step, input_tokens, output_tokens FROM steps ORDER BY step',
    );
    expect(
      steps.rows.map((r) => [Number(r.step), Number(r.input_tokens), Number(r.output_tokens)]),
    ).toEqual(expected.map((e) => [e.step, e.input_tokens, e.output_tokens]));
  } finally {
    engine.close();
  }
});
