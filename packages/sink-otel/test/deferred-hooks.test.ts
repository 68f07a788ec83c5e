import { RLMObservability } from '@rlm/obs-core';
import { HookGuard } from '@rlm/otel-common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startHttpReceiver } from '../../otel-common/test/receivers.js';
import { OpenTelemetrySink } from '../src/index.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('HookGuard: hooks off the caller path', () => {
  it('queues calls, runs them in order on the next turn, with the time each came', async () => {
    const hooks = new HookGuard();
    const seen: [string, number][] = [];
    const now = vi.spyOn(Date, 'now');
    now.mockReturnValue(1_000);
    hooks.run(() => seen.push(['a', hooks.now()]));
    now.mockReturnValue(2_000);
    hooks.run(() => seen.push(['b', hooks.now()]));
    expect(seen).toEqual([]);
    expect(hooks.pending).toBe(2);
    now.mockReturnValue(9_000);
    await nextTurn();
    expect(seen).toEqual([
      ['a', 1_000],
      ['b', 2_000],
    ]);
    expect(hooks.pending).toBe(0);
    // Outside a drain, now() is the clock.
    expect(hooks.now()).toBe(9_000);
  });

  it('a throwing hook is counted and undone; the next ones still run', () => {
    let undone = 0;
    const hooks = new HookGuard(() => undone++);
    const ran: number[] = [];
    hooks.run(() => ran.push(1));
    hooks.run(() => {
      throw new Error('bad input');
    });
    hooks.run(() => ran.push(3));
    hooks.drain();
    expect(ran).toEqual([1, 3]);
    expect(hooks.errors).toBe(1);
    expect(hooks.lastError).toBe('bad input');
    expect(undone).toBe(1);
  });

  it('a caller that never yields: the queue is drained inline, never beyond 1024 calls', () => {
    const hooks = new HookGuard();
    let ran = 0;
    let maxPending = 0;
    for (let i = 0; i < 10_000; i++) {
      hooks.run(() => ran++);
      maxPending = Math.max(maxPending, hooks.pending);
    }
    expect(maxPending).toBeLessThan(1024);
    expect(ran).toBeGreaterThanOrEqual(9_000);
    hooks.drain();
    expect(ran).toBe(10_000);
  });

  it('a hook queued while draining runs in the same drain, after the others', () => {
    const hooks = new HookGuard();
    const order: string[] = [];
    hooks.run(() => {
      order.push('first');
      hooks.run(() => order.push('queued during the drain'));
    });
    hooks.run(() => order.push('second'));
    hooks.drain();
    expect(order).toEqual(['first', 'second', 'queued during the drain']);
  });
});

describe('the otel sink with deferred hooks', () => {
  it('spans keep the time of the hook call, not of the drain', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        metricsEnabled: false,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const callMs = Date.parse('2026-11-22T10:00:00.000Z');
      const now = vi.spyOn(Date, 'now');
      now.mockReturnValue(callMs);
      obs.onRunStart('deferred', {
        task: 't',
        environment: 'e',
        params: {},
        startedAt: new Date(callMs).toISOString(),
      });
      now.mockReturnValue(callMs + 40);
      obs.onStep('deferred', {
        event: { step: 1, observation: { success: true } },
        cumulativeReward: 0,
      });
      now.mockReturnValue(callMs + 50);
      obs.onRunEnd('deferred', { result: { completed: true, steps: 1 } });
      // The caller has its answer before any span exists: nothing ended yet.
      expect(sink.status().spans_ended).toBe(0);
      // The drain runs an hour later by the clock.
      now.mockReturnValue(callMs + 3_600_000);
      await nextTurn();
      now.mockRestore();
      expect((await obs.flush()).ok).toBe(true);
      const step = receiver.spans.find((s) => s.name === 'rlm.step')!;
      // No startedAt/durationMs in the event: the step ran from the run's start until the call.
      expect(step.startNs / 1e6).toBe(callMs);
      expect(step.endNs / 1e6).toBe(callMs + 40);
      await obs.shutdown();
    } finally {
      await receiver.close();
    }
  });

  it('getTraceId right after onRunStart answers (the lookup drains first)', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        metricsEnabled: false,
      });
      sink.onRunStart('lookup', { task: 't', environment: 'e', params: {} });
      expect(sink.getTraceId('lookup')).toMatch(/^[0-9a-f]{32}$/);
      await sink.shutdown();
    } finally {
      await receiver.close();
    }
  });
});
