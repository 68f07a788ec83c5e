/**
 * The `limits` option (every cut marked), the run's custom attributes on its step spans
 * (seed 002: "custom metadata to all spans") and the step's cache key.
 */
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { OpenTelemetrySink, type OtelSinkOptions, optionsSchema } from '../src/index.js';

async function spansOf(
  options: OtelSinkOptions,
  record: (sink: OpenTelemetrySink) => void,
): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const sink = new OpenTelemetrySink({ spanExporter: exporter, metricsEnabled: false, ...options });
  record(sink);
  await sink.forceFlush();
  const spans = exporter.getFinishedSpans();
  await sink.shutdown();
  return spans;
}

const byName = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);

describe('limits', () => {
  const long = (n: number) => 'x'.repeat(n);
  function recordLong(sink: OpenTelemetrySink): void {
    sink.onRunStart('r1', { task: long(800), environment: 'e', params: {} });
    sink.onStep('r1', {
      event: {
        action: { action: 'run_python', code: long(1500) },
        observation: { success: false, output: long(1500), error: `E: ${long(400)}` },
      },
      cumulativeReward: 0,
    });
    sink.onScore('r1', {
      name: 'judge',
      value: 1,
      kind: 'score',
      at: new Date().toISOString(),
      comment: long(1500),
    });
    sink.onRunEnd('r1', { result: { completed: true, finalAnswer: long(1500) } });
  }

  it('by default the seed limits (task 500, text 1000, error 200), every cut marked', async () => {
    const spans = await spansOf({}, recordLong);
    const [run] = byName(spans, 'rlm.run');
    const [step] = byName(spans, 'rlm.step');
    expect(run!.attributes['rlm.task']).toBe(`${long(500)}…[truncated 300 chars]`);
    expect(step!.events.map((e) => e.attributes)).toEqual([
      { code: `${long(1000)}…[truncated 500 chars]` },
      { output: `${long(1000)}…[truncated 500 chars]` },
    ]);
    // The error status message was a bare cut: now it says it was cut.
    expect(step!.status.message).toBe(`E: ${long(197)}…[truncated 203 chars]`);
    expect(run!.events.find((e) => e.name === 'final_answer')!.attributes).toEqual({
      answer: `${long(1000)}…[truncated 500 chars]`,
    });
  });

  it('limits: { task, text, error } set each cut', async () => {
    const spans = await spansOf({ limits: { task: 20, text: 30, error: 10 } }, recordLong);
    const [run] = byName(spans, 'rlm.run');
    const [step] = byName(spans, 'rlm.step');
    expect(run!.attributes['rlm.task']).toBe(`${long(20)}…[truncated 780 chars]`);
    expect(step!.events.map((e) => e.attributes)).toEqual([
      { code: `${long(30)}…[truncated 1470 chars]` },
      { output: `${long(30)}…[truncated 1470 chars]` },
    ]);
    expect(step!.status.message).toBe(`E: ${long(7)}…[truncated 393 chars]`);
    const score = run!.events.find(
      (e) => e.name === 'rlm.score' && e.attributes?.['rlm.score.name'] === 'judge',
    );
    expect(score!.attributes!['rlm.score.comment']).toBe(`${long(30)}…[truncated 1470 chars]`);
    expect(run!.events.find((e) => e.name === 'final_answer')!.attributes).toEqual({
      answer: `${long(30)}…[truncated 1470 chars]`,
    });
  });

  it('only the limits given change', async () => {
    const spans = await spansOf({ limits: { error: 5 } }, recordLong);
    const [run] = byName(spans, 'rlm.run');
    const [step] = byName(spans, 'rlm.step');
    expect(run!.attributes['rlm.task']).toBe(`${long(500)}…[truncated 300 chars]`);
    expect(step!.status.message).toBe(`E: xx…[truncated 398 chars]`);
  });

  it('are checked: by the options schema (naming the key) and by the sink', () => {
    const validate = (limits: unknown) => optionsSchema['~standard'].validate({ limits });
    expect(validate({ task: 10, text: 20, error: 5 })).toEqual({
      value: { limits: { task: 10, text: 20, error: 5 } },
    });
    expect(validate({ task: 0 })).toMatchObject({
      issues: [{ path: ['limits', 'task'], message: 'must be a whole number > 0 (got 0)' }],
    });
    expect(validate({ code: 10 })).toMatchObject({
      issues: [
        { path: ['limits', 'code'], message: expect.stringContaining("unknown option 'code'") },
      ],
    });
    expect(validate(500)).toMatchObject({ issues: [{ path: ['limits'] }] });
    const sink = new OpenTelemetrySink({
      spanExporter: new InMemorySpanExporter(),
      limits: { text: 1.5 },
    });
    expect(sink.status()).toMatchObject({
      available: false,
      detail: 'unavailable: limits.text must be a whole number > 0 (got 1.5)',
    });
  });
});

describe("the run's custom attributes on every span of the run (seed 002)", () => {
  it('step spans carry them; a step attribute of the same name wins; the sink own keys stay', async () => {
    const spans = await spansOf({}, (sink) => {
      sink.onRunStart('r1', {
        task: 't',
        environment: 'e',
        params: {},
        attributes: { team: 'ml', experiment: 'v1.2', 'rlm.step': 99, config: { a: 1 } },
      });
      sink.onStep('r1', {
        event: { step: 1, observation: { success: true }, attributes: { experiment: 'v2' } },
        cumulativeReward: 0,
      });
      sink.onStep('r1', {
        event: { step: 2, observation: { success: true } },
        cumulativeReward: 0,
      });
      sink.onRunEnd('r1', { result: { completed: true } });
    });
    const [run] = byName(spans, 'rlm.run');
    expect(run!.attributes).toMatchObject({ team: 'ml', experiment: 'v1.2', config: '{"a":1}' });
    const steps = byName(spans, 'rlm.step');
    expect(steps.map((s) => s.attributes.team)).toEqual(['ml', 'ml']);
    expect(steps.map((s) => s.attributes.experiment)).toEqual(['v2', 'v1.2']);
    expect(steps.map((s) => s.attributes.config)).toEqual(['{"a":1}', '{"a":1}']);
    expect(steps.map((s) => s.attributes['rlm.step'])).toEqual([1, 2]);
  });
});

describe("the step's cache (seed 002's cache_status and cache_signature)", () => {
  it('rlm.cache.status and rlm.cache.key', async () => {
    const spans = await spansOf({}, (sink) => {
      sink.onRunStart('r1', { task: 't', environment: 'e', params: {} });
      sink.onStep('r1', {
        event: {
          step: 1,
          observation: { success: true },
          cache: { status: 'hit', key: 'sha256:abc123' },
        },
        cumulativeReward: 0,
      });
      sink.onStep('r1', {
        event: { step: 2, observation: { success: true }, cache: { status: 'miss' } },
        cumulativeReward: 0,
      });
      sink.onRunEnd('r1', { result: { completed: true } });
    });
    const steps = byName(spans, 'rlm.step');
    expect(steps[0]!.attributes).toMatchObject({
      'rlm.cache.status': 'hit',
      'rlm.cache.key': 'sha256:abc123',
    });
    expect(steps[1]!.attributes['rlm.cache.status']).toBe('miss');
    expect(steps[1]!.attributes).not.toHaveProperty('rlm.cache.key');
  });
});
