import { afterEach, describe, expect, it, vi } from 'vitest';
import { CompositeSink } from '../src/composite-sink.js';
import { createPlaceholderSink } from '../src/config/placeholder-sink.js';
import type { StepRecord } from '../src/contract.js';
import { RLMObservability } from '../src/coordinator.js';
import type { DiagnosticLogger } from '../src/diagnostics.js';
import { FaultySink } from '../src/testing/faulty-sink.js';
import { MemorySink } from '../src/testing/memory-sink.js';

const quiet = { flushOnExit: false, logger: false } as const;

function step(n: number) {
  return {
    event: {
      step: n,
      action: { action: 'run_python', code: `print(${n})` },
      observation: { success: true, output: String(n) },
      reward: 1,
    },
    cumulativeReward: n,
  };
}

function sendRun(obs: RLMObservability, runId: string, steps: number): void {
  obs.onRunStart(runId, { task: 't', environment: 'e', params: {} });
  for (let i = 1; i <= steps; i++) obs.onStep(runId, step(i));
  obs.onRunEnd(runId, { result: { completed: true, steps, totalReward: steps } });
}

function stepNumbers(memory: MemorySink, runId: string): number[] {
  return memory.stepsOf(runId).map((s) => s.event.step as number);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RLMObservability: seed API', () => {
  it('adds, gets and removes sinks by name; removeSink returns a boolean', () => {
    const a = new MemorySink('a');
    const obs = RLMObservability.withSinks([a, null, false], quiet);
    expect(obs.getSink('a')).toBe(a);
    expect(obs.addSink(new MemorySink('b'))).toBe(true);
    expect(obs.addSink(new MemorySink('b'))).toBe(false);
    expect(obs.status().map((s) => s.name)).toEqual(['a', 'b']);
    expect(obs.removeSink('b')).toBe(true);
    expect(obs.removeSink('b')).toBe(false);
    expect(obs.getSink('b')).toBeUndefined();
    expect(obs.addSink({ name: 'not a sink' } as never)).toBe(false);
  });

  it('fans every hook out in order to every sink', () => {
    const a = new MemorySink('a');
    const b = new MemorySink('b');
    const obs = RLMObservability.withSinks([a, b], quiet);
    sendRun(obs, 'r1', 3);
    for (const sink of [a, b]) {
      expect(sink.events.map((e) => e.hook)).toEqual([
        'onRunStart',
        'onStep',
        'onStep',
        'onStep',
        'onRunEnd',
      ]);
      expect(stepNumbers(sink, 'r1')).toEqual([1, 2, 3]);
    }
    // One sanitized snapshot is shared by all sinks.
    expect(a.events[1]!.payload).toBe(b.events[1]!.payload);
  });

  it('status() adds delivery counters and never throws even if a sink does', () => {
    const obs = RLMObservability.withSinks(
      [new MemorySink('m'), new FaultySink({ name: 'bad-status', statusThrows: true })],
      quiet,
    );
    sendRun(obs, 'r', 2);
    const [m, bad] = obs.status();
    expect(m).toMatchObject({ name: 'm', enabled: true, available: true });
    // 4 events and the end-of-run scores (reward, completed).
    expect(m!.counters).toMatchObject({ delivered: 6, failed: 0, dropped: 0, pending: 0 });
    expect(bad).toMatchObject({ name: 'bad-status', available: false });
    expect(bad!.detail).toContain('status() failed');
  });
});

describe('RLMObservability: isolation of failing sinks', () => {
  it('a throwing, a rejecting, a hung and a slow sink do not disturb the others', async () => {
    const memory = new MemorySink('memory');
    const other = new MemorySink('other');
    const thrower = new FaultySink({ name: 'throws', mode: 'throw' });
    const rejecter = new FaultySink({ name: 'rejects', mode: 'reject' });
    const hung = new FaultySink({ name: 'hangs', mode: 'hang' });
    const slow = new FaultySink({ name: 'slow', mode: 'delay', delayMs: 100 });
    const obs = RLMObservability.withSinks([thrower, rejecter, memory, hung, slow, other], {
      ...quiet,
      callTimeoutMs: 50_000,
      maxQueueSize: 50,
    });
    const runs = ['a', 'b', 'c'];
    for (const id of runs) obs.onRunStart(id, { task: id, environment: 'e', params: {} });
    for (let i = 1; i <= 100; i++) for (const id of runs) obs.onStep(id, step(i));
    for (const id of runs) obs.onRunEnd(id, { result: { completed: true } });
    const total = runs.length * 102;

    // The caller was never blocked: the synchronous sinks already have everything, while the
    // slow and hung sinks still hold events in their queues.
    for (const sink of [memory, other]) {
      expect(sink.events).toHaveLength(total);
      for (const id of runs)
        expect(stepNumbers(sink, id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    }
    const before = Object.fromEntries(obs.status().map((s) => [s.name, s.counters]));
    expect(before.slow!.pending).toBeGreaterThan(0);
    expect(before.hangs!.pending).toBeGreaterThan(0);

    // Counters are exact: every event is delivered, failed, dropped or pending. The memory
    // sinks keep scores too: one end-of-run `completed` score per run (no totalReward given).
    for (const [name, counters] of Object.entries(before)) {
      const scores = name === 'memory' || name === 'other' ? runs.length : 0;
      expect(counters!.delivered + counters!.failed + counters!.dropped + counters!.pending).toBe(
        total + scores,
      );
    }
    expect(memory.scores.map((s) => [s.runId, s.score.name, s.score.value])).toEqual(
      runs.map((id) => [id, 'completed', true]),
    );
    expect(before.throws).toMatchObject({ delivered: 0, failed: total, dropped: 0, pending: 0 });
    expect(before.throws!.lastError).toContain('failed on purpose');
    expect(before.hangs).toMatchObject({
      delivered: 0,
      failed: 0,
      dropped: total - 51,
      pending: 51,
    });
    expect(before.slow).toMatchObject({ delivered: 0, dropped: total - 51, pending: 51 });

    await new Promise((resolve) => setTimeout(resolve, 20));
    // A rejecting sink is asynchronous: while one call settles, at most maxQueueSize (50)
    // wait; the rest were dropped and counted.
    const rejects = obs.status().find((s) => s.name === 'rejects')!.counters;
    expect(rejects).toMatchObject({ delivered: 0, failed: 51, dropped: total - 51, pending: 0 });

    const report = await obs.shutdown({ timeoutMs: 300 });
    const byName = Object.fromEntries(report.sinks.map((s) => [s.name, s]));
    expect(byName.memory).toMatchObject({
      ok: true,
      delivered: total + runs.length,
      failed: 0,
      dropped: 0,
      pending: 0,
    });
    expect(byName.hangs).toMatchObject({ ok: false, deadlineExceeded: true, pending: 0 });
    expect(byName.hangs!.failed + byName.hangs!.dropped).toBe(total);
    expect(byName.slow!.delivered + byName.slow!.failed + byName.slow!.dropped).toBe(total);
    expect(report.ok).toBe(false);
  });

  it('a slow sink receives every event in order when its queue is large enough', async () => {
    const slow = new FaultySink({ name: 'slow', mode: 'delay', delayMs: 5 });
    const seen: number[] = [];
    const recorder = Object.assign(slow, {
      onStep: (_id: string, record: { event: { step?: number } }) => {
        seen.push(record.event.step as number);
        return new Promise<void>((resolve) => setTimeout(resolve, 1));
      },
    });
    const obs = RLMObservability.withSinks([recorder], quiet);
    for (let i = 1; i <= 30; i++) obs.onStep('r', step(i));
    const report = await obs.flush({ timeoutMs: 10_000 });
    expect(report.ok).toBe(true);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(report.sinks[0]).toMatchObject({ delivered: 30, failed: 0, dropped: 0, pending: 0 });
  });

  it('a hook promise that never settles times out and the queue moves on', async () => {
    vi.useFakeTimers();
    const hung = new FaultySink({ name: 'hung', mode: 'hang', hooks: ['onStep'], every: 2 });
    const obs = RLMObservability.withSinks([hung], { ...quiet, callTimeoutMs: 1_000 });
    for (let i = 1; i <= 4; i++) obs.onStep('r', step(i));
    // step 1 ok, step 2 hangs, 3 and 4 wait.
    expect(obs.status()[0]!.counters).toMatchObject({ delivered: 1, pending: 3 });
    await vi.advanceTimersByTimeAsync(1_000);
    // step 2 timed out, step 3 ok, step 4 hangs.
    expect(obs.status()[0]!.counters).toMatchObject({
      delivered: 2,
      failed: 1,
      timedOut: 1,
      pending: 1,
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(obs.status()[0]!.counters).toMatchObject({
      delivered: 2,
      failed: 2,
      timedOut: 2,
      pending: 0,
    });
  });

  it('logs a failing sink once, then rate-limits, without secrets', () => {
    const lines: string[] = [];
    const logger: DiagnosticLogger = { warn: (m) => lines.push(m) };
    const leaky = new FaultySink({ name: 'leaky', mode: 'throw' });
    leaky.onStep = () => {
      throw new Error(
        'auth failed for https://bob:hunter2-secret@api.example.com with Bearer abcdef123456',
      );
    };
    const obs = RLMObservability.withSinks([leaky], { flushOnExit: false, logger });
    for (let i = 0; i < 50; i++) obs.onStep('r', step(i));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("sink 'leaky' onStep failed");
    const everything = lines.join('\n') + JSON.stringify(obs.status());
    expect(everything).not.toContain('hunter2');
    expect(everything).not.toContain('abcdef123456');
  });
});

describe('RLMObservability: flush and shutdown', () => {
  it('shutdown with a hung sink returns at the single deadline and reports per sink', async () => {
    vi.useFakeTimers();
    const memory = new MemorySink('memory');
    const hung = new FaultySink({ name: 'hung', mode: 'hang', flush: 'hang' });
    const hungFlush = new FaultySink({ name: 'hung-flush', mode: 'ok', flush: 'hang' });
    const obs = RLMObservability.withSinks([memory, hung, hungFlush], quiet);
    sendRun(obs, 'r', 5);
    let report: Awaited<ReturnType<RLMObservability['shutdown']>> | undefined;
    void obs.shutdown({ timeoutMs: 2_000 }).then((r) => {
      report = r;
    });
    await vi.advanceTimersByTimeAsync(1_999);
    expect(report).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(report).toBeDefined();
    expect(report!.sinks.map((s) => [s.name, s.ok, s.deadlineExceeded])).toEqual([
      ['memory', true, false],
      ['hung', false, true],
      ['hung-flush', false, true],
    ]);
    expect(memory.shutdowns).toBe(1);
  });

  it('is idempotent, and events after shutdown are counted and dropped', async () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    sendRun(obs, 'r', 1);
    const first = obs.shutdown();
    expect(obs.shutdown()).toBe(first);
    await first;
    expect(memory.shutdowns).toBe(1);
    expect(() => sendRun(obs, 'late', 2)).not.toThrow();
    expect(memory.events).toHaveLength(3);
    expect(memory.scores).toHaveLength(2);
    expect(obs.stats.afterShutdown).toBe(4);
    expect(obs.status()[0]!.counters).toMatchObject({ delivered: 5, dropped: 4 });
  });

  it('flush reports a sink whose forceFlush rejects without rejecting itself', async () => {
    const obs = RLMObservability.withSinks(
      [new FaultySink({ name: 'f', mode: 'ok', flush: 'reject' })],
      quiet,
    );
    const report = await obs.flush({ timeoutMs: 1000 });
    expect(report.ok).toBe(false);
    expect(report.sinks[0]!.error).toContain('flush failed on purpose');
  });

  it('placeholders get no events and count nothing; an enabled placeholder fails the report, a disabled one does not', async () => {
    const memory = new MemorySink('memory');
    const missing = createPlaceholderSink('missing', {
      enabled: true,
      detail: "sink 'missing' is not installed: pnpm add @rlm/sink-missing",
    });
    const off = createPlaceholderSink('off', { enabled: false, detail: 'disabled' });
    const obs = RLMObservability.withSinks([memory, missing, off], {
      ...quiet,
      sampling: { rate: 0.5 },
    });
    for (let i = 0; i < 20; i++) sendRun(obs, `r${i}`, 2);
    const counters = Object.fromEntries(obs.status().map((s) => [s.name, s.counters]));
    expect(counters.memory!.delivered + counters.memory!.sampledOut).toBeGreaterThan(0);
    for (const name of ['missing', 'off'])
      expect(counters[name], name).toEqual({
        delivered: 0,
        failed: 0,
        dropped: 0,
        pending: 0,
        timedOut: 0,
        sampledOut: 0,
      });
    const flushed = await obs.flush();
    expect(flushed.ok).toBe(false);
    expect(flushed.sinks.map((s) => [s.name, s.ok, s.delivered, s.error])).toEqual([
      ['memory', true, counters.memory!.delivered, undefined],
      ['missing', false, 0, "sink 'missing' is not installed: pnpm add @rlm/sink-missing"],
      ['off', true, 0, undefined],
    ]);
    const report = await obs.shutdown();
    expect(report.sinks.find((s) => s.name === 'missing')).toMatchObject({ ok: false });
    sendRun(obs, 'late', 1);
    expect(obs.status().find((s) => s.name === 'off')!.counters.dropped).toBe(0);
  });

  it('a sink that says enabled: false when added still gets every event (a CompositeSink may get its children later)', async () => {
    const team = new CompositeSink([], { name: 'team' });
    expect(team.status().enabled).toBe(false);
    const obs = RLMObservability.withSinks([team], quiet);
    const child = new MemorySink('child');
    team.add(child);
    sendRun(obs, 'r1', 2);
    const report = await obs.flush();
    expect(report.ok).toBe(true);
    expect(child.count()).toBe(4);
    await obs.shutdown();
  });

  it('signal handlers are opt-in', () => {
    const before = process.listenerCount('SIGTERM');
    const obs = new RLMObservability(quiet);
    expect(process.listenerCount('SIGTERM')).toBe(before);
    const withSignals = new RLMObservability({ ...quiet, handleSignals: ['SIGTERM'] });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    void withSignals.shutdown();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    void obs.shutdown();
  });
});

describe('RLMObservability: one pass of sanitizing before fan-out', () => {
  it('redacts secret keys in params, attributes, events and URLs before any sink sees them', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], {
      ...quiet,
      attributes: { team: 'ml', deploy_token: 'tok-global-999' },
    });
    obs.onRunStart('r', {
      task: 'call https://alice:pa55word@db.internal/x?api_key=k-123456&q=1',
      environment: 'e',
      params: { api_key: 'sk-live-abcdef', nested: { password: 'hunter2!', max_tokens: 512 } },
      attributes: { Authorization: 'Bearer eyJhbGciOi.payload.sig' },
    });
    obs.onStep('r', {
      event: {
        step: 1,
        usage: { inputTokens: 10, outputTokens: 5 },
        observation: { output: 'token=abc' },
      },
      cumulativeReward: 0,
    });
    const text = JSON.stringify(memory.events);
    for (const secret of [
      'pa55word',
      'k-123456',
      'sk-live-abcdef',
      'hunter2!',
      'tok-global-999',
      'eyJhbGciOi',
    ]) {
      expect(text).not.toContain(secret);
    }
    const start = memory.events[0]!.payload as {
      params: Record<string, unknown>;
      attributes: Record<string, unknown>;
      task: string;
    };
    expect(start.params.api_key).toBe('[REDACTED]');
    expect((start.params.nested as Record<string, unknown>).max_tokens).toBe(512);
    expect(start.attributes.team).toBe('ml');
    expect(start.task).toContain('https://[REDACTED]@db.internal');
    expect(text).toContain('"inputTokens":10');
  });

  it('redact: false really turns redaction off', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], { ...quiet, redact: false });
    obs.onRunStart('r', {
      task: 'https://u:p4ss@h',
      environment: 'e',
      params: { api_key: 'visible-key' },
    });
    const text = JSON.stringify(memory.events);
    expect(text).toContain('visible-key');
    expect(text).toContain('u:p4ss@h');
  });

  it('caps every field at the global limit, but keeps values below it whole', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], {
      ...quiet,
      limits: { maxStringLength: 1000 },
    });
    obs.onStep('r', {
      event: { step: 1, observation: { output: 'x'.repeat(5000), error: 'y'.repeat(999) } },
      cumulativeReward: 0,
    });
    const observation = (memory.stepsOf('r')[0]!.event.observation ?? {}) as {
      output: string;
      error: string;
    };
    expect(observation.output.startsWith('x'.repeat(1000))).toBe(true);
    expect(observation.output).toContain('[truncated 4000 chars]');
    expect(observation.error).toBe('y'.repeat(999));
  });

  it('normalizes run ids and rejects unusable ones without throwing', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    for (const id of ['', null, undefined, {}, Symbol('x')]) {
      expect(() => obs.onStep(id as never, step(1))).not.toThrow();
    }
    obs.onStep(42 as never, step(1));
    obs.onStep('z'.repeat(100_000), step(1));
    expect(obs.stats.rejected).toBe(5);
    expect(memory.events.map((e) => e.runId.length)).toEqual([2, 209]);
  });
});

describe('RLMObservability: hostile inputs never throw into the caller', () => {
  const boom = () => {
    throw new Error('boom');
  };
  const throwing = (key: string) => Object.defineProperty({}, key, { get: boom, enumerable: true });
  const hostileProxy = new Proxy(
    {},
    {
      get: boom,
      ownKeys: boom,
      getOwnPropertyDescriptor: boom,
      has: boom,
    },
  );

  it('hooks with Proxies, throwing getters and throwing toString: counted as rejected, never thrown', () => {
    const memory = new MemorySink();
    const warnings: string[] = [];
    const obs = RLMObservability.withSinks([memory], {
      flushOnExit: false,
      logger: { warn: (m: string) => warnings.push(m) },
    });
    const tagsProxy = new Proxy(['a', 'b'], { get: boom });
    const dateProxy = new Proxy(new Date(0), {});
    expect(() => obs.onRunStart('r1', { task: 't', tags: tagsProxy } as never)).not.toThrow();
    expect(() => obs.onRunStart('r2', { task: 't', startedAt: dateProxy } as never)).not.toThrow();
    expect(() => obs.onRunStart('r3', hostileProxy as never)).not.toThrow();
    expect(() =>
      obs.onRunEnd('r1', { result: {}, runPath: { toString: boom } } as never),
    ).not.toThrow();
    expect(() => obs.onStep('r1', hostileProxy as never)).not.toThrow();
    expect(() => obs.onScore('r1', hostileProxy as never)).not.toThrow();
    // Whatever could be read went out (the score without a readable name is refused).
    expect(obs.stats).toMatchObject({ received: 6, rejected: 0 });
    expect(obs.status()[0]!.counters).toMatchObject({ delivered: 5, failed: 0 });
    expect(memory.events.map((e) => e.hook)).toEqual([
      'onRunStart',
      'onRunStart',
      'onRunStart',
      'onRunEnd',
      'onStep',
    ]);
  });

  it('an input that cannot be read at all: the event is counted as rejected and said, not thrown', () => {
    const memory = new MemorySink();
    const warnings: string[] = [];
    const obs = RLMObservability.withSinks([memory], {
      flushOnExit: false,
      attributes: { service: 'agent' },
      logger: { warn: (m: string) => warnings.push(m) },
    });
    expect(() =>
      obs.onRunStart('r', { task: 't', attributes: hostileProxy } as never),
    ).not.toThrow();
    expect(obs.stats).toMatchObject({ received: 0, rejected: 1 });
    expect(memory.events).toEqual([]);
    expect(warnings.join('\n')).toContain('onRunStart: event dropped, its input could not be read');
  });

  it('the run API with Proxies and throwing getters: never throws, records what it can', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    let run!: ReturnType<typeof obs.startRun>;
    expect(() => {
      run = obs.startRun(throwing('task') as never);
    }).not.toThrow();
    expect(() => obs.startRun(hostileProxy as never)).not.toThrow();
    expect(() => run.child(throwing('tags') as never)).not.toThrow();
    expect(() => run.child({ tags: new Proxy(['x'], { get: boom }) } as never)).not.toThrow();
    expect(() => run.score('quality', 1, hostileProxy as never)).not.toThrow();
    expect(() => run.feedback('thumbs', true, throwing('comment') as never)).not.toThrow();
    expect(() => run.end(throwing('finalAnswer') as never)).not.toThrow();
    expect(() => obs.startRun({ task: 't' }).end(hostileProxy as never)).not.toThrow();
    expect(memory.count('onRunStart')).toBe(5);
    expect(memory.count('onRunEnd')).toBe(2);
    const end = memory.events.find((e) => e.hook === 'onRunEnd' && e.runId === run.id)!;
    expect(end.payload).toMatchObject({ result: { completed: true, steps: 0 } });
  });
});

describe('RLMObservability: timeouts beyond what a timer can hold', () => {
  it('callTimeoutMs and flush deadlines of 2^31 ms or more (and Infinity) mean no time limit', async () => {
    for (const ms of [2 ** 31, 3_000_000_000, Number.POSITIVE_INFINITY]) {
      const slow = new FaultySink({ name: 'slow', mode: 'delay', delayMs: 30 });
      const obs = RLMObservability.withSinks([slow], { ...quiet, callTimeoutMs: ms });
      sendRun(obs, 'r', 2);
      const report = await obs.flush({ timeoutMs: ms });
      expect(report.ok).toBe(true);
      expect(report.sinks[0]).toMatchObject({ delivered: 4, failed: 0, timedOut: 0 });
      await obs.shutdown({ timeoutMs: ms });
    }
  });
});

describe('RLMObservability: a sink that causes events from inside its hook', () => {
  it('the nested event waits its turn: order kept, every event counted', async () => {
    const seen: string[] = [];
    let obs!: RLMObservability;
    const recorder = {
      name: 'recorder',
      status: () => ({ name: 'recorder', enabled: true, available: true, detail: '' }),
      onRunStart(runId: string) {
        seen.push(`start:${runId}`);
        // A sink that records its own bookkeeping run through the same coordinator.
        if (runId === 'outer')
          obs.onRunStart('inner', { task: 'nested', environment: 'e', params: {} });
        return new Promise<void>((resolve) => setTimeout(resolve, 10));
      },
      onStep(runId: string) {
        seen.push(`step:${runId}`);
      },
      onRunEnd() {},
    };
    obs = RLMObservability.withSinks([recorder], quiet);
    obs.onRunStart('outer', { task: 't', environment: 'e', params: {} });
    obs.onStep('outer', step(1));
    await obs.flush();
    expect(seen).toEqual(['start:outer', 'start:inner', 'step:outer']);
    expect(obs.status()[0]!.counters).toMatchObject({ delivered: 3, pending: 0, failed: 0 });
  });

  it('a synchronous hook that records through the coordinator: its event comes right after', () => {
    const seen: string[] = [];
    let obs!: RLMObservability;
    const recorder = {
      name: 'recorder',
      status: () => ({ name: 'recorder', enabled: true, available: true, detail: '' }),
      onRunStart(runId: string) {
        seen.push(`start:${runId}`);
        if (runId === 'outer') obs.onStep('outer', step(0));
        seen.push(`start-done:${runId}`);
      },
      onStep(runId: string) {
        seen.push(`step:${runId}`);
      },
      onRunEnd() {},
    };
    obs = RLMObservability.withSinks([recorder], quiet);
    obs.onRunStart('outer', { task: 't', environment: 'e', params: {} });
    expect(seen).toEqual(['start:outer', 'start-done:outer', 'step:outer']);
    expect(obs.status()[0]!.counters).toMatchObject({ delivered: 2, pending: 0 });
  });
});

describe('RLMObservability: removing a sink', () => {
  it('a sink removed and added back while its queue drains keeps its order', async () => {
    const slow = new FaultySink({ name: 'slow', mode: 'delay', delayMs: 5 });
    const seen: string[] = [];
    const spy = {
      name: 'spy',
      status: () => ({ name: 'spy', enabled: true, available: true, detail: '' }),
      onRunStart: (id: string) => {
        seen.push(`start:${id}`);
        return slow.onRunStart();
      },
      onStep: (_id: string, s: StepRecord) => {
        seen.push(String(s.event.step));
        return slow.onStep();
      },
      onRunEnd: () => {
        seen.push('end');
        return slow.onRunEnd();
      },
    };
    const obs = RLMObservability.withSinks([spy], quiet);
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    for (let i = 1; i <= 3; i++) obs.onStep('r', step(i));
    expect(obs.removeSink('spy')).toBe(true);
    expect(obs.addSink(spy)).toBe(true);
    for (let i = 4; i <= 5; i++) obs.onStep('r', step(i));
    obs.onRunEnd('r', { result: {} });
    await obs.flush();
    expect(seen).toEqual(['start:r', '1', '2', '3', '4', '5', 'end']);
    expect(obs.status()[0]!.counters).toMatchObject({ delivered: 7, pending: 0 });
  });

  it('shutdown() waits for what was queued for a removed sink (without flushing it); nothing arrives after', async () => {
    const slow = new FaultySink({ name: 'slow', mode: 'delay', delayMs: 5 });
    const obs = RLMObservability.withSinks([slow], quiet);
    sendRun(obs, 'r', 5);
    expect(obs.removeSink('slow')).toBe(true);
    const report = await obs.shutdown({ timeoutMs: 5_000 });
    expect(report.sinks).toEqual([]);
    const atShutdown = slow.completed;
    expect(atShutdown).toBe(7);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(slow.completed).toBe(atShutdown);
  });

  it('shutdown() abandons a removed hung sink at its deadline', async () => {
    const hung = new FaultySink({ name: 'hung', mode: 'hang' });
    const obs = RLMObservability.withSinks([hung], quiet);
    sendRun(obs, 'r', 2);
    obs.removeSink('hung');
    const report = await obs.shutdown({ timeoutMs: 200 });
    expect(report.sinks).toEqual([]);
    expect(hung.completed).toBe(0);
  });
});

describe('RLMObservability: diagnostics stay scrubbed with redact: false', () => {
  it('redact: false records secrets as they are, but status details, warnings and flush errors are still scrubbed', async () => {
    const memory = new MemorySink();
    const warnings: string[] = [];
    const leaky = {
      name: 'leaky',
      status: () => ({
        name: 'leaky',
        enabled: true,
        available: false,
        detail:
          'cannot reach https://admin:Sup3r-Secret-Pw@db.internal/ (Bearer abc123def456ghi789)',
        api_key: 'sk-live-123456789',
      }),
      onRunStart() {
        throw new Error('refused by https://admin:Sup3r-Secret-Pw@db.internal/');
      },
      onStep() {},
      onRunEnd() {},
      forceFlush: () =>
        Promise.reject(new Error('upload to https://admin:Sup3r-Secret-Pw@db.internal/ failed')),
    };
    const obs = RLMObservability.withSinks([memory, leaky], {
      flushOnExit: false,
      redact: false,
      logger: { warn: (m: string) => warnings.push(m) },
    });
    obs.onRunStart('r', {
      task: 't',
      environment: 'e',
      params: { api_key: 'sk-data-kept', url: 'https://u:data-pw@host/' },
    });
    const report = await obs.flush();
    const diagnostics = JSON.stringify([obs.status(), warnings, report]);
    expect(diagnostics).not.toContain('Sup3r-Secret-Pw');
    expect(diagnostics).not.toContain('abc123def456ghi789');
    expect(diagnostics).not.toContain('sk-live-123456789');
    // The recorded data is left alone: that is what redact: false asks for.
    expect(memory.events[0]!.payload).toMatchObject({
      params: { api_key: 'sk-data-kept', url: 'https://u:data-pw@host/' },
    });
  });
});
