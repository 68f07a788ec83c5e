import { describe, expect, it } from 'vitest';
import { RLMObservability } from '../src/coordinator.js';
import { parseTraceparent, traceIdFromRunId } from '../src/ids.js';
import { MemorySink } from '../src/testing/memory-sink.js';

const quiet = { flushOnExit: false, logger: false } as const;

describe('the run API', () => {
  it('numbers steps, keeps the cumulative reward and fills the end result', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    const run = obs.startRun({
      task: 'Sum',
      environment: 'pure_rlm',
      params: { max_steps: 3 },
      runPath: '/tmp/run',
    });
    expect(
      run.step({ action: { action: 'run_python' }, observation: { success: true }, reward: 0.5 }),
    ).toBe(0.5);
    expect(run.step({ reward: Number.NaN })).toBe(0.5);
    expect(run.step({ step: 10, reward: 1 })).toBe(1.5);
    run.end({ finalAnswer: '42' });
    run.end();
    run.step({ reward: 1 });
    const steps = memory.stepsOf(run.id);
    expect(steps.map((s) => [s.event.step, s.cumulativeReward])).toEqual([
      [1, 0.5],
      [2, 0.5],
      [10, 1.5],
    ]);
    const end = memory.events.at(-1)!;
    expect(end.hook).toBe('onRunEnd');
    expect(end.payload).toMatchObject({
      result: { completed: true, steps: 3, totalReward: 1.5, finalAnswer: '42' },
      runPath: '/tmp/run',
    });
    expect(memory.count('onRunEnd')).toBe(1);
    expect(run.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('fail() ends a run as not completed with the error message', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    const run = obs.startRun({ task: 't' });
    run.fail(new Error('budget exhausted'));
    expect(memory.events.at(-1)!.payload).toMatchObject({
      result: { completed: false, error: 'budget exhausted' },
    });
  });

  it('child runs share the trace and name their parent; traceparent continues a run elsewhere', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    const root = obs.startRun({ runId: 'root-1', task: 'root' });
    const child = root.child({ task: 'child' });
    const grandchild = child.child({ task: 'grandchild' });
    expect(root.traceId).toBe(traceIdFromRunId('root-1'));
    expect(child.traceId).toBe(root.traceId);
    expect(grandchild.traceId).toBe(root.traceId);
    expect(child.parentRunId).toBe('root-1');
    const childStart = memory.eventsOf(child.id)[0]!.payload as {
      parentRunId: string;
      traceparent: string;
    };
    expect(childStart.parentRunId).toBe('root-1');
    expect(parseTraceparent(childStart.traceparent)).toEqual({
      traceId: root.traceId,
      spanId: root.spanId,
      traceFlags: 1,
    });

    // Another process continues from the header.
    const remote = RLMObservability.withSinks([new MemorySink()], quiet).startRun({
      task: 'remote',
      traceparent: grandchild.traceparent(),
    });
    expect(remote.traceId).toBe(root.traceId);
  });
});

describe('the run API: huge run ids', () => {
  it('run.id, its trace and its children use the id the sinks see (ids over 512 chars are shortened)', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    const longId = `run-${'x'.repeat(600)}`;
    const run = obs.startRun({ runId: longId, task: 't' });
    const child = run.child({ task: 'c' });
    run.step({ reward: 1 });
    child.end();
    run.end();
    const start = memory.events[0]!;
    expect(start.runId).toBe(run.id);
    expect(run.id.length).toBeLessThan(512);
    expect(run.traceId).toBe(traceIdFromRunId(run.id));
    expect(child.parentRunId).toBe(run.id);
    expect(child.traceId).toBe(run.traceId);
    const childStart = memory.events.find((e) => e.hook === 'onRunStart' && e.runId === child.id)!;
    expect(childStart.payload).toMatchObject({ parentRunId: run.id });
    expect(memory.stepsOf(run.id)).toHaveLength(1);
  });

  it('sampling keeps or drops a run with a huge id together with its children', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], { ...quiet, sampling: { rate: 0.5 } });
    let split = 0;
    for (let i = 0; i < 100; i++) {
      const run = obs.startRun({ runId: `${i}-${'y'.repeat(600)}`, task: 't' });
      const child = run.child({ task: 'c' });
      const kept = (id: string) => memory.events.some((e) => e.runId === id);
      if (kept(run.id) !== kept(child.id)) split++;
    }
    expect(split).toBe(0);
  });
});

describe('the run API: calls after end()', () => {
  it('end() twice and step() after end() are each said; child() and score() stay allowed', () => {
    const memory = new MemorySink();
    const warnings: string[] = [];
    const obs = RLMObservability.withSinks([memory], {
      flushOnExit: false,
      logger: { warn: (m: string) => warnings.push(m) },
    });
    const run = obs.startRun({ task: 't' });
    run.end();
    run.end();
    run.step({ reward: 1 });
    const late = run.child({ task: 'follow-up' });
    run.score('quality', 1);
    expect(warnings.filter((w) => w.includes('end() called twice'))).toHaveLength(1);
    expect(warnings.filter((w) => w.includes('step() after end() ignored'))).toHaveLength(1);
    expect(memory.stepsOf(run.id)).toHaveLength(0);
    expect(late.parentRunId).toBe(run.id);
    expect(memory.scores.map((s) => s.score.name)).toContain('quality');
  });
});
