import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { RLMObservabilitySink } from '../src/contract.js';
import { type FlushReport, RLMObservability } from '../src/coordinator.js';
import type { SinkFlushResult } from '../src/sink-channel.js';
import { createWorkerSinks } from '../src/worker/worker-sinks.js';
// @ts-expect-error a plain JavaScript fixture
import { createSink as createRecordingSink } from './fixtures/recording-sink.mjs';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const quiet = { flushOnExit: false, logger: false } as const;
const silent = { warn() {} };

let dir: string | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function tmpFile(name: string): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-worker-report-'));
  return path.join(dir, name);
}

function step(n: number) {
  return {
    event: { step: n, action: { action: 'run' }, observation: { success: true }, reward: 1 },
    cumulativeReward: n,
  };
}

/**
 * A run start, `steps` steps and the end: the events a sink that keeps scores is given (the
 * coordinator adds two scores at the end: reward and completed).
 */
function record(obs: RLMObservability, runId: string, steps: number): number {
  obs.onRunStart(runId, { task: 't', environment: 'e', params: {} });
  for (let i = 1; i <= steps; i++) obs.onStep(runId, step(i));
  obs.onRunEnd(runId, {
    result: { completed: true, steps, totalReward: steps, startedAt: '', finishedAt: '' },
  });
  return steps + 4;
}

const figures = (r: SinkFlushResult | undefined) => ({
  delivered: r?.delivered,
  failed: r?.failed,
  dropped: r?.dropped,
  pending: r?.pending,
  timedOut: r?.timedOut,
});

/** Every event is counted once: delivered, failed, dropped or pending. */
function accounted(report: FlushReport): number {
  const r = report.sinks[0]!;
  return r.delivered + r.failed + r.dropped + r.pending;
}

describe('flush and shutdown report what the sink in the worker did', () => {
  it('the same sink reports the same figures in the worker as in this thread (a failing step is failed, not delivered)', async () => {
    const options = { throwOnStep: 3, apiKey: 'sk-report-777' };
    const here = RLMObservability.withSinks(
      [createRecordingSink({ ...options, file: tmpFile('here.jsonl') }) as RLMObservabilitySink],
      quiet,
    );
    const [remote] = await createWorkerSinks(
      [{ use: './recording-sink.mjs', options: { ...options, file: tmpFile('worker.jsonl') } }],
      { configDir: fixtures, logger: silent },
    );
    const there = RLMObservability.withSinks([remote!], quiet);
    cleanups.push(() => there.shutdown());
    for (const obs of [here, there]) record(obs, 'r1', 10);
    const [hereFlush, thereFlush] = [await here.flush(), await there.flush({ timeoutMs: 10_000 })];
    expect(figures(hereFlush.sinks[0])).toEqual({
      delivered: 13,
      failed: 1,
      dropped: 0,
      pending: 0,
      timedOut: 0,
    });
    expect(figures(thereFlush.sinks[0])).toEqual(figures(hereFlush.sinks[0]));
    expect(thereFlush.sinks[0]!.lastError).toContain('step 3 refused for key [REDACTED]');
    expect(JSON.stringify(thereFlush)).not.toContain('sk-report-777');
    for (const obs of [here, there]) record(obs, 'r2', 4);
    const [hereEnd, thereEnd] = [
      await here.shutdown(),
      await there.shutdown({ timeoutMs: 10_000 }),
    ];
    expect(figures(hereEnd.sinks[0])).toEqual({
      delivered: 20,
      failed: 2,
      dropped: 0,
      pending: 0,
      timedOut: 0,
    });
    expect(figures(thereEnd.sinks[0])).toEqual(figures(hereEnd.sinks[0]));
    expect(thereEnd.ok).toBe(hereEnd.ok);
  });

  it('a step that fails in the worker is reported failed, not delivered (what replay decides ok from)', async () => {
    const [remote] = await createWorkerSinks(
      [{ use: './recording-sink.mjs', options: { file: tmpFile('a.jsonl'), throwOnStep: 1 } }],
      { configDir: fixtures, logger: silent },
    );
    const obs = RLMObservability.withSinks([remote!], quiet);
    cleanups.push(() => obs.shutdown());
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    obs.onStep('r', step(1));
    const report = await obs.flush({ timeoutMs: 10_000 });
    expect(report.sinks[0]).toMatchObject({ delivered: 1, failed: 1, dropped: 0, pending: 0 });
  });

  it('a worker that ends under its sinks: the events in flight are counted lost, and status keeps saying so after shutdown', async () => {
    const file = tmpFile('exit.jsonl');
    const [remote] = await createWorkerSinks(
      [{ use: './recording-sink.mjs', options: { file, exitOnStep: 3 } }],
      { configDir: fixtures, logger: silent },
    );
    const obs = RLMObservability.withSinks([remote!], quiet);
    cleanups.push(() => obs.shutdown());
    const events = record(obs, 'r1', 10);
    const report = await obs.flush({ timeoutMs: 10_000 });
    expect(report.ok).toBe(false);
    const r = report.sinks[0]!;
    expect(r.error).toBe('worker thread exited (code 3)');
    // the start and steps 1-2 reached the sink; step 3 and the rest died with the thread
    expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3);
    expect(figures(r)).toEqual({ delivered: 3, failed: 0, dropped: 11, pending: 0, timedOut: 0 });
    expect(accounted(report)).toBe(events);
    expect(r.lastError).toBe('worker thread exited (code 3)');
    // events after the worker stopped are counted too
    const more = record(obs, 'r2', 2);
    const end = await obs.shutdown({ timeoutMs: 5_000 });
    expect(end.sinks[0]).toMatchObject({ delivered: 3, dropped: 11 + more, pending: 0 });
    expect(accounted(end)).toBe(events + more);
    const status = obs.status()[0] as unknown as Record<string, unknown>;
    expect(status.available).toBe(false);
    expect(status.detail).toContain('worker thread exited (code 3)');
    expect(status.lost_after_stop).toBe(11 + more);
  });

  it('an uncaught error in the worker: what the sink delivered before it counts as delivered, the rest lost', async () => {
    const file = tmpFile('uncaught.jsonl');
    const [remote] = await createWorkerSinks(
      // each call takes a while, so the events wait in the worker's lane when it fails
      [{ use: './recording-sink.mjs', options: { file, delayMs: 20, throwLaterOnStep: 2 } }],
      { configDir: fixtures, logger: silent },
    );
    const obs = RLMObservability.withSinks([remote!], quiet);
    cleanups.push(() => obs.shutdown());
    const events = record(obs, 'r1', 4);
    const report = await obs.flush({ timeoutMs: 10_000 });
    const r = report.sinks[0]!;
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^worker thread failed: uncaught after step 2/);
    // the start and step 1 were delivered; step 2 was being delivered when the thread failed
    expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3);
    expect(figures(r)).toEqual({
      delivered: 2,
      failed: 0,
      dropped: events - 2,
      pending: 0,
      timedOut: 0,
    });
  });
});
