import { traceIdFromRunId } from '@rlm/obs-core';
import { describe, expect, it } from 'vitest';
import { startGrpcReceiver, startHttpReceiver } from '../../otel-common/test/receivers.js';
import { OpenTelemetrySink } from '../src/index.js';

/** A run through the hooks: the run span and `steps` step spans. */
function record(sink: OpenTelemetrySink, runId: string, steps: number): void {
  sink.onRunStart(runId, { task: 't', environment: 'auth', params: {} });
  for (let step = 1; step <= steps; step++)
    sink.onStep(runId, { event: { step, observation: { success: true } }, cumulativeReward: 0 });
  sink.onRunEnd(runId, { result: { completed: true } });
}

/** A clock for the cooldown only (no jitter with random 0.5): the test moves it. */
function fakeClock() {
  const clock = { now: 1_700_000_000_000 };
  return { clock, authCooldown: { now: () => clock.now, random: () => 0.5 } };
}

describe('auth cooldown: an endpoint that refuses the credentials', () => {
  it('http/protobuf 401: pauses, skips (counted) without touching the network, resumes, one success clears it', async () => {
    const receiver = await startHttpReceiver();
    const { clock, authCooldown } = fakeClock();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        headers: { authorization: 'Bearer wrong-secret-token' },
        metricsEnabled: false,
        authCooldown,
      });
      receiver.mode = '401';
      record(sink, 'refused', 3);
      await expect(sink.forceFlush()).rejects.toThrow(/4 spans could not be exported.*HTTP 401/);
      expect(receiver.paths).toEqual(['/v1/traces']);
      expect(sink.status()).toMatchObject({
        available: true,
        spans_ended: 4,
        spans_failed: 4,
        spans_skipped: 0,
        authFailures: 1,
        authSkipped: 0,
        authPausedUntil: new Date(clock.now + 60_000).toISOString(),
      });
      expect(sink.status().detail).toBe(
        `${receiver.url}; auth failed (HTTP 401): paused for 60s, 0 events skipped; check the credentials`,
      );
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.problems[0]!.problem).toContain('refused the credentials');
      expect(check.problems[0]!.fix).toContain('OTEL_EXPORTER_OTLP_HEADERS');

      // Paused: the next exports fail at once, nothing reaches the endpoint, all is counted.
      record(sink, 'skipped', 2);
      clock.now += 59_000;
      record(sink, 'still-skipped', 1);
      await expect(sink.forceFlush()).rejects.toThrow(/5 spans could not be exported/);
      expect(receiver.paths).toHaveLength(1);
      expect(sink.status()).toMatchObject({
        spans_ended: 9,
        spans_exported: 0,
        spans_failed: 9,
        spans_skipped: 5,
        spans_dropped: 0,
        authFailures: 1,
        authSkipped: 5,
      });
      expect(sink.status().detail).toContain('paused for 1s, 5 events skipped');

      // The pause is over and the credentials work again: export resumes, the pause is gone.
      clock.now += 2_000;
      receiver.mode = 'ok';
      record(sink, 'resumed', 2);
      await expect(sink.forceFlush()).resolves.toBeUndefined();
      expect(receiver.spans.map((s) => s.attributes['rlm.run_id'])).toEqual([
        'resumed',
        'resumed',
        'resumed',
      ]);
      expect(receiver.spans[0]!.traceId).toBe(traceIdFromRunId('resumed'));
      expect(sink.status()).toMatchObject({
        detail: receiver.url,
        spans_exported: 3,
        spans_skipped: 5,
        authFailures: 1,
        authSkipped: 5,
        authPausedUntil: null,
      });
      expect((await sink.check()).ok).toBe(true);
      expect(JSON.stringify(sink.status())).not.toContain('wrong-secret-token');
      await sink.shutdown();
    } finally {
      await receiver.close();
    }
  });

  it('http/protobuf 403 is an auth failure too; a 503 is not', async () => {
    const receiver = await startHttpReceiver();
    const { authCooldown } = fakeClock();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        metricsEnabled: false,
        exportTimeoutMs: 300,
        authCooldown,
      });
      receiver.mode = '503';
      record(sink, 'unavailable', 1);
      await expect(sink.forceFlush()).rejects.toThrow();
      expect(sink.status()).toMatchObject({ authFailures: 0, authPausedUntil: null });
      receiver.mode = '403';
      record(sink, 'forbidden', 1);
      await expect(sink.forceFlush()).rejects.toThrow(/HTTP 403/);
      expect(sink.status()).toMatchObject({ authFailures: 1 });
      expect(sink.status().detail).toContain('auth failed (HTTP 403): paused for 60s');
      await sink.shutdown().catch(() => {});
    } finally {
      await receiver.close();
    }
  });

  it('gRPC UNAUTHENTICATED: traces and metrics pause together; a second refusal doubles the pause', async () => {
    const receiver = await startGrpcReceiver();
    const { clock, authCooldown } = fakeClock();
    try {
      const sink = new OpenTelemetrySink({
        endpoint: receiver.url,
        headers: { 'x-api-key': 'grpc-wrong-secret' },
        authCooldown,
      });
      receiver.mode = 'unauthenticated';
      record(sink, 'refused', 1);
      await expect(sink.forceFlush()).rejects.toThrow(/UNAUTHENTICATED/);
      const calls = receiver.calls;
      expect(calls).toBeGreaterThanOrEqual(1);
      expect(sink.status()).toMatchObject({ authFailures: 1, spans_failed: 2 });
      expect(sink.status().detail).toContain('auth failed (gRPC UNAUTHENTICATED): paused for 60s');

      // Paused: neither the spans nor the metrics (same credentials) go out.
      record(sink, 'skipped', 2);
      await expect(sink.forceFlush()).rejects.toThrow(/3 spans could not be exported/);
      expect(receiver.calls).toBe(calls);
      expect(sink.status()).toMatchObject({ spans_skipped: 3, authSkipped: 3 });

      // After the pause, still refused: one more try, then twice as long a pause.
      clock.now += 61_000;
      record(sink, 'refused-again', 1);
      await expect(sink.forceFlush()).rejects.toThrow(/UNAUTHENTICATED/);
      expect(receiver.calls).toBeGreaterThan(calls);
      expect(sink.status()).toMatchObject({
        authFailures: 2,
        authPausedUntil: new Date(clock.now + 120_000).toISOString(),
      });
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.problems[0]!.problem).toContain('gRPC UNAUTHENTICATED');

      clock.now += 121_000;
      receiver.mode = 'ok';
      record(sink, 'resumed', 1);
      await expect(sink.forceFlush()).resolves.toBeUndefined();
      expect(receiver.spans.map((s) => s.attributes['rlm.run_id'])).toEqual(['resumed', 'resumed']);
      expect(receiver.metrics.map((m) => m.name)).toContain('rlm.runs');
      expect(sink.status()).toMatchObject({ authPausedUntil: null, detail: receiver.url });
      expect(JSON.stringify(sink.status())).not.toContain('grpc-wrong-secret');
      await sink.shutdown();
    } finally {
      await receiver.close();
    }
  });
});
