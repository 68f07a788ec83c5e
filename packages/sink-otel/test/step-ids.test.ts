import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { spanIdFromRunId } from '@rlm/obs-core';
import { StepSequence } from '@rlm/otel-common';
import { describe, expect, it } from 'vitest';
import { OpenTelemetrySink } from '../src/index.js';

/** Three steps without a `step` number, and one with, as a replay would send them. */
async function stepSpans(runs = 1) {
  const exporter = new InMemorySpanExporter();
  const sink = new OpenTelemetrySink({ spanExporter: exporter, metricsEnabled: false });
  for (let r = 0; r < runs; r++) {
    sink.onRunStart('r1', { task: 't', environment: 'e', params: {} });
    for (let i = 0; i < 3; i++)
      sink.onStep('r1', {
        event: { action: { action: `a${i}` }, observation: { success: true }, reward: 1 },
        cumulativeReward: i + 1,
      });
    sink.onStep('r1', { event: { step: 9, observation: { success: true } }, cumulativeReward: 4 });
    sink.onRunEnd('r1', { result: { completed: true } });
  }
  await sink.forceFlush();
  const spans = exporter.getFinishedSpans().filter((s) => s.name === 'rlm.step');
  await sink.shutdown();
  return spans.map((s) => ({
    id: s.spanContext().spanId,
    step: s.attributes['rlm.step'],
    action: s.attributes['rlm.action_type'],
  }));
}

describe('steps without a step number', () => {
  it('are the n-th step of their run: distinct span ids, as the run API would number them', async () => {
    const spans = await stepSpans();
    expect(spans).toEqual([
      { id: spanIdFromRunId('r1', 1), step: 1, action: 'a0' },
      { id: spanIdFromRunId('r1', 2), step: 2, action: 'a1' },
      { id: spanIdFromRunId('r1', 3), step: 3, action: 'a2' },
      { id: spanIdFromRunId('r1', 9), step: 9, action: 'unknown' },
    ]);
  });

  it('a replay of the run (started again) yields the same ids, so backends de-duplicate it', async () => {
    const once = await stepSpans(1);
    expect(new Set(once.map((s) => s.id)).size).toBe(4);
    const twice = await stepSpans(2);
    expect(twice.map((s) => s.id)).toEqual([...once, ...once].map((s) => s.id));
    // And another process replaying it too.
    expect((await stepSpans(1)).map((s) => s.id)).toEqual(once.map((s) => s.id));
  });
});

describe('StepSequence (the step numbers of the OTLP sinks)', () => {
  it('numbers steps without a number by their place; steps before the start count on; a restart counts from 1', () => {
    const steps = new StepSequence(10);
    expect([steps.next('a', undefined), steps.next('a', undefined)]).toEqual([1, 2]);
    steps.start('a');
    expect(steps.next('a', undefined)).toBe(3);
    expect(steps.next('a', 9)).toBe(9);
    steps.start('a');
    expect([steps.next('a', undefined), steps.next('a', undefined)]).toEqual([1, 2]);
  });

  it('forgets the runs stepped least recently first', () => {
    const steps = new StepSequence(2);
    steps.next('a', undefined);
    steps.next('b', undefined);
    steps.next('a', undefined);
    steps.next('c', undefined);
    expect(steps.next('a', undefined)).toBe(3);
    expect(steps.next('b', undefined)).toBe(1);
  });
});
