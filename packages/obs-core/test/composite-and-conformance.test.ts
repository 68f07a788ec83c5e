import { describe, expect, it } from 'vitest';
import { CompositeSink } from '../src/composite-sink.js';
import type { RLMObservabilitySink, SinkStatus } from '../src/contract.js';
import { RLMObservability } from '../src/coordinator.js';
import { describeSinkConformance } from '../src/testing/conformance.js';
import { FaultySink } from '../src/testing/faulty-sink.js';
import { MemorySink } from '../src/testing/memory-sink.js';

describe('CompositeSink', () => {
  it('isolates children, nests, and lists them in its status', async () => {
    const inner = new MemorySink('inner');
    const nested = new CompositeSink([inner, new FaultySink({ name: 'thrower' })], {
      name: 'nested',
      logger: false,
    });
    const direct = new MemorySink('direct');
    const hung = new FaultySink({ name: 'hung', mode: 'hang' });
    const outer = new CompositeSink([direct, nested, hung], { name: 'outer', logger: false });
    const obs = RLMObservability.withSinks([outer], { flushOnExit: false, logger: false });
    const run = obs.startRun({ task: 't' });
    for (let i = 0; i < 5; i++) run.step({ reward: 1 });
    run.end();
    expect(direct.events).toHaveLength(7);
    expect(inner.events).toHaveLength(7);
    const status = outer.status();
    expect(status.sinks.map((s) => s.name)).toEqual(['direct', 'nested', 'hung']);
    expect(status.sinks[1]!.sinks).toBeDefined();
    expect(
      (
        status.sinks[1] as unknown as {
          sinks: Array<{ name: string; counters: { failed: number } }>;
        }
      ).sinks[1],
    ).toMatchObject({
      name: 'thrower',
      counters: { failed: 7 },
    });
    expect(status.detail).toBe('3/3 sinks available');
    const report = await obs.shutdown({ timeoutMs: 100 });
    expect(report.sinks[0]).toMatchObject({ name: 'outer', deadlineExceeded: true });
    expect(direct.shutdowns).toBe(1);
  });
});

/** A sink whose `status()` is whatever the test makes it. */
function statusSink(name: string, status: () => SinkStatus): RLMObservabilitySink {
  return { name, status, onRunStart() {}, onStep() {}, onRunEnd() {} };
}

describe('CompositeSink status', () => {
  it('shows a child whose status() throws as unavailable, next to its healthy sibling', () => {
    const healthy = new MemorySink('healthy');
    const broken = new FaultySink({ name: 'broken', statusThrows: true });
    // Throws a value that cannot even be turned into a string.
    const weird = statusSink('weird', () => {
      throw Object.create(null);
    });
    const composite = new CompositeSink([healthy, broken, weird], { logger: false });
    let status!: ReturnType<CompositeSink['status']>;
    expect(() => {
      status = composite.status();
    }).not.toThrow();
    expect(status.sinks[0]).toMatchObject({ name: 'healthy', enabled: true, available: true });
    expect(status.sinks[1]).toMatchObject({
      name: 'broken',
      enabled: true,
      available: false,
      detail: 'status() failed: status exploded',
    });
    expect(status.sinks[2]).toMatchObject({ name: 'weird', available: false });
    expect(status.sinks[2]!.detail).toMatch(/^status\(\) failed: /);
    expect(status).toMatchObject({ available: true, detail: '1/3 sinks available' });
  });

  it('shows a child whose status has a throwing getter as unavailable, through the coordinator too', async () => {
    const healthy = new MemorySink('healthy');
    const getter = statusSink('getter', () => {
      const status = { name: 'getter', enabled: true, available: true, detail: 'fine' };
      Object.defineProperty(status, 'extra', {
        enumerable: true,
        get() {
          throw new Error('getter exploded');
        },
      });
      return status;
    });
    const composite = new CompositeSink([healthy, getter], { name: 'team', logger: false });
    const status = composite.status();
    expect(status.sinks.map((s) => [s.name, s.available])).toEqual([
      ['healthy', true],
      ['getter', false],
    ]);
    expect(status.sinks[1]!.detail).toBe('status() failed: getter exploded');
    expect(() => JSON.stringify(status)).not.toThrow();

    const obs = RLMObservability.withSinks([composite], { flushOnExit: false, logger: false });
    const [observed] = obs.status();
    expect(observed).toMatchObject({
      name: 'team',
      available: true,
      detail: '1/2 sinks available',
    });
    await obs.shutdown({ timeoutMs: 1000 });
  });

  it('masks secret-named keys and URL credentials in child statuses', async () => {
    const leaky = statusSink('leaky', () => ({
      name: 'leaky',
      enabled: true,
      available: true,
      detail: 'posting to https://user:secret-pass@host/ingest',
      api_key: 'sk-live-123456789',
      endpoint: 'https://user:secret-pass@host/',
      nested: { auth: { token: 'sk-live-123456789' }, note: 'key is sk-live-123456789' },
      requests: 3,
    }));
    const composite = new CompositeSink([new MemorySink('healthy'), leaky], {
      name: 'team',
      logger: false,
    });
    const status = composite.status();
    const child = status.sinks[1]!;
    expect(child).toMatchObject({ name: 'leaky', available: true, requests: 3 });
    expect(child.api_key).toBe('[REDACTED]');
    expect(child.detail).toContain('host/ingest');
    const json = JSON.stringify(status);
    expect(json).not.toContain('sk-live-123456789');
    expect(json).not.toContain('secret-pass');

    const obs = RLMObservability.withSinks([composite], { flushOnExit: false, logger: false });
    const observed = JSON.stringify(obs.status());
    expect(observed).not.toContain('sk-live-123456789');
    expect(observed).not.toContain('secret-pass');
    await obs.shutdown({ timeoutMs: 1000 });
  });

  it('copies only plain JSON data from a child status', () => {
    const odd = statusSink('odd', () => ({
      name: 'odd',
      enabled: true,
      available: true,
      detail: 'ok',
      count: 10n,
      since: new Date(0),
      check: () => true,
      missing: undefined,
    }));
    const status = new CompositeSink([odd], { logger: false }).status();
    const child = status.sinks[0]!;
    expect(child).toMatchObject({ count: 10, since: '1970-01-01T00:00:00.000Z' });
    expect(typeof child.check).toBe('string');
    expect('missing' in child).toBe(false);
    expect(JSON.parse(JSON.stringify(status))).toEqual(status);
  });
});

describe('CompositeSink scores', () => {
  it('forwards run.score() and the end-of-run scores to children with onScore', async () => {
    const memory = new MemorySink('scores');
    const noScores = new FaultySink({ name: 'no-scores', mode: 'ok' });
    const composite = new CompositeSink([memory, noScores], { logger: false });
    const obs = RLMObservability.withSinks([composite], { flushOnExit: false, logger: false });
    const run = obs.startRun({ task: 't' });
    run.step({ reward: 1 });
    run.score('quality', 0.9);
    run.end({ completed: true });
    await obs.flush({ timeoutMs: 1000 });
    const names = memory.scores.map((s) => s.score.name);
    expect(names).toContain('quality');
    expect(names).toContain('reward');
    expect(names).toContain('completed');
    expect(memory.scores.every((s) => s.runId === run.id)).toBe(true);
    expect(memory.scores.find((s) => s.score.name === 'quality')!.score.value).toBe(0.9);
    // A child without onScore receives nothing and fails nothing.
    expect(noScores.calls.onScore).toBe(0);
    const [observed] = obs.status();
    const children = (observed as unknown as { sinks: Array<{ counters: { failed: number } }> })
      .sinks;
    expect(children.map((c) => c.counters.failed)).toEqual([0, 0]);
    expect(observed!.counters.failed).toBe(0);
    await obs.shutdown({ timeoutMs: 1000 });
  });

  it('keeps delivering scores to a sibling when one child onScore throws or rejects', async () => {
    const thrower = Object.assign(new MemorySink('thrower'), {
      onScore(): void {
        throw new Error('onScore failed on purpose');
      },
    });
    const rejecter = Object.assign(new MemorySink('rejecter'), {
      onScore(): Promise<void> {
        return Promise.reject(new Error('onScore rejected on purpose'));
      },
    });
    const sibling = new MemorySink('sibling');
    const composite = new CompositeSink([thrower, rejecter, sibling], { logger: false });
    const obs = RLMObservability.withSinks([composite], { flushOnExit: false, logger: false });
    const run = obs.startRun({ task: 't' });
    run.score('quality', 0.9);
    run.end({ completed: true });
    await obs.flush({ timeoutMs: 1000 });
    expect(sibling.scores.map((s) => s.score.name)).toEqual(['quality', 'reward', 'completed']);
    expect(sibling.count('onRunEnd')).toBe(1);
    expect(thrower.count('onRunEnd')).toBe(1);
    expect(rejecter.count('onRunEnd')).toBe(1);
    const status = composite.status();
    expect(status.sinks.map((s) => s.counters.failed)).toEqual([3, 3, 0]);
    expect(status.sinks[0]!.counters.lastError).toContain('onScore');
    expect(obs.status()[0]!.counters.failed).toBe(0);
    await obs.shutdown({ timeoutMs: 1000 });
  });

  it('is score-capable even when no child has onScore', async () => {
    const composite = new CompositeSink([new FaultySink({ name: 'plain', mode: 'ok' })], {
      logger: false,
    });
    expect(typeof composite.onScore).toBe('function');
    expect(() =>
      composite.onScore('r', { name: 'q', value: 1, kind: 'score', at: new Date().toISOString() }),
    ).not.toThrow();
    expect(composite.status().sinks[0]!.counters).toMatchObject({ delivered: 0, failed: 0 });
  });
});

describeSinkConformance(() => new MemorySink('conformance-memory'), {
  title: 'MemorySink conformance',
  readBack: (sink, runId) => ({
    steps: sink.stepsOf(runId).map((s) => s.event.step as number),
    ended: sink.eventsOf(runId).some((e) => e.hook === 'onRunEnd'),
  }),
});

/** The children of each CompositeSink the suite creates, to read runs back from. */
const compositeChildren = new WeakMap<object, MemorySink[]>();
describeSinkConformance(
  () => {
    const children = [new MemorySink('a'), new MemorySink('b')];
    const composite = new CompositeSink(children, { logger: false });
    compositeChildren.set(composite, children);
    return composite;
  },
  {
    title: 'CompositeSink conformance',
    readBack: (sink, runId) => {
      // Both children got every step, in order: read back the second one, checking the first.
      const [a, b] = compositeChildren.get(sink)!;
      const steps = (m: MemorySink) => m.stepsOf(runId).map((s) => s.event.step as number);
      expect(steps(a!)).toEqual(steps(b!));
      return { steps: steps(b!), ended: b!.eventsOf(runId).some((e) => e.hook === 'onRunEnd') };
    },
  },
);
