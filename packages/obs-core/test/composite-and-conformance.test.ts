import { describe, expect, it } from 'vitest';
import { CompositeSink } from '../src/composite-sink.js';
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

describeSinkConformance(() => new MemorySink('conformance-memory'), {
  title: 'MemorySink conformance',
  readBack: (sink, runId) => ({
    steps: sink.stepsOf(runId).map((s) => s.event.step as number),
    ended: sink.eventsOf(runId).some((e) => e.hook === 'onRunEnd'),
  }),
});

describeSinkConformance(
  () => new CompositeSink([new MemorySink('a'), new MemorySink('b')], { logger: false }),
  {
    title: 'CompositeSink conformance',
  },
);
