import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { MemorySink } from '@rlm/obs-core/testing';
import { createJsonlSink, openJsonlStore } from '@rlm/sink-jsonl';
import { afterEach, describe, expect, it } from 'vitest';
import { runDemoAgent } from '../src/demo-agent.js';
import { replayRuns } from '../src/replay.js';

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('replay', () => {
  it('into the in-memory test sink reproduces every hook call of the original run', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-replay-'));
    const original = new MemorySink('original');
    const obs = RLMObservability.withSinks([original, createJsonlSink({ dir })], {
      flushOnExit: false,
      logger: false,
    });
    const demo = await runDemoAgent(obs, { seed: 7, runs: 3, steps: 4, stepDelayMs: 0 });
    await obs.shutdown();
    const runIds = [...demo.runIds, ...demo.nestedRunIds];
    const replayed = new MemorySink('replayed');
    const report = await replayRuns(openJsonlStore(dir), runIds, replayed);
    expect(report).toMatchObject({ ok: true, failed: 0, dropped: 0, runs: runIds.length });
    // Every hook event, plus the stored scores that are not the end-of-run ones (the judge's
    // score and the user's feedback of the first run): the coordinator makes reward and
    // completed again at each end, so they are not replayed.
    const given = original.scores.filter((s) => s.score.source !== 'rlm-obs');
    expect(given.map((s) => s.score.name)).toEqual(['answer_quality', 'thumbs_up']);
    expect(report.events).toBe(original.events.length + given.length);
    for (const runId of runIds) expect(replayed.eventsOf(runId)).toEqual(original.eventsOf(runId));
    // The same scores, once each, in the same order (feedback after the end stays after it).
    expect(replayed.scores).toHaveLength(original.scores.length);
    for (const runId of runIds)
      expect(replayed.scores.filter((s) => s.runId === runId)).toEqual(
        original.scores.filter((s) => s.runId === runId),
      );
  });

  it('a long run reaches a sink with a bounded export queue whole (flushed as it goes)', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-replay-long-'));
    const obs = RLMObservability.withSinks([createJsonlSink({ dir })], {
      flushOnExit: false,
      logger: false,
    });
    const run = obs.startRun({ runId: 'long-run', task: 'many steps' });
    for (let i = 0; i < 5_000; i++) run.step({ reward: 1 });
    run.end();
    await obs.shutdown();
    // Like a span batch processor: holds 2048 events until a flush, drops the rest.
    const exported: number[] = [];
    let queue: number[] = [];
    let dropped = 0;
    const bounded = {
      name: 'bounded',
      status: () => ({ name: 'bounded', enabled: true, available: true, detail: '' }),
      onRunStart() {},
      onStep(_runId: string, record: { event: { step?: number } }) {
        if (queue.length >= 2048) dropped++;
        else queue.push(record.event.step!);
      },
      onRunEnd() {},
      async forceFlush() {
        exported.push(...queue);
        queue = [];
        if (dropped > 0) throw new Error(`${dropped} dropped`);
      },
    };
    const report = await replayRuns(openJsonlStore(dir), ['long-run'], bounded);
    expect(dropped).toBe(0);
    expect(exported).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1));
    expect(report).toMatchObject({ ok: true, events: 5_002, failed: 0, dropped: 0 });
  });

  it('reads rotated steps files in order', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-replay-rotated-'));
    const original = new MemorySink('original');
    const jsonl = createJsonlSink({ dir, retention: { maxStepFileBytes: 3000 } });
    const obs = RLMObservability.withSinks([original, jsonl], {
      flushOnExit: false,
      logger: false,
    });
    const demo = await runDemoAgent(obs, { seed: 5, runs: 2, steps: 30, stepDelayMs: 0 });
    await obs.shutdown();
    expect(jsonl.status().rotated).toBeGreaterThanOrEqual(3);
    const runIds = [...demo.runIds, ...demo.nestedRunIds];
    const replayed = new MemorySink('replayed');
    const report = await replayRuns(openJsonlStore(dir), runIds, replayed);
    expect(report.ok).toBe(true);
    for (const runId of runIds) expect(replayed.eventsOf(runId)).toEqual(original.eventsOf(runId));
  });

  it('steps recorded without their own timing are replayed at the times they were recorded', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-replay-times-'));
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const obs = RLMObservability.withSinks([createJsonlSink({ dir })], {
      flushOnExit: false,
      logger: false,
    });
    const run = obs.startRun({ runId: 'untimed', task: 'time me', environment: 'test' });
    await sleep(30);
    run.step({ action: { action: 'run_python', code: 'a' }, reward: 0.1 });
    await sleep(30);
    run.step({ action: { action: 'run_python', code: 'b' }, reward: 0.2 });
    await sleep(30);
    // Its own timing: kept as it is, and the next step starts where it ended.
    const ownStart = Date.now() - 20;
    run.step({ action: { action: 'run_python', code: 'c' }, startedAt: ownStart, durationMs: 5 });
    await sleep(30);
    // Its own duration only: it starts where the previous one ended and keeps the duration.
    run.step({ action: { action: 'submit' }, durationMs: 7 });
    run.end({ completed: true });
    await obs.shutdown();
    const lines = fs
      .readFileSync(path.join(dir, 'steps', 'untimed.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { timestamp: string });
    const recorded = lines.map((line) => Date.parse(line.timestamp));
    const runStart = Date.parse(
      JSON.parse(fs.readFileSync(path.join(dir, 'starts.jsonl'), 'utf8')).started_at,
    );

    await sleep(50);
    const replayStart = Date.now();
    const replayed = new MemorySink('replayed');
    expect((await replayRuns(openJsonlStore(dir), ['untimed'], replayed)).ok).toBe(true);
    const events = replayed
      .eventsOf('untimed')
      .filter((e) => e.hook === 'onStep')
      .map((e) => (e.payload as { event: { startedAt?: unknown; durationMs?: unknown } }).event);
    expect(events).toHaveLength(4);
    const timing = events.map((e) => [e.startedAt, e.durationMs]);
    expect(timing[0]).toEqual([new Date(runStart).toISOString(), recorded[0]! - runStart]);
    expect(timing[1]).toEqual([new Date(recorded[0]!).toISOString(), recorded[1]! - recorded[0]!]);
    expect(timing[2]).toEqual([ownStart, 5]);
    expect(timing[3]).toEqual([new Date(ownStart + 5).toISOString(), 7]);
    // Every step ends before the replay began (not at the replay's own time).
    for (const e of events)
      expect(
        new Date(e.startedAt as string | number).getTime() + (e.durationMs as number),
      ).toBeLessThan(replayStart);
    // The first two steps took the ~30 ms the agent waited, not 0 and not the replay's delay.
    expect(timing[0]![1]).toBeGreaterThanOrEqual(25);
    expect(timing[1]![1]).toBeGreaterThanOrEqual(25);
  });

  it('the demo is deterministic for a seed', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-demo-'));
    const strip = (m: MemorySink) =>
      m.events.map((e) => {
        const p = JSON.parse(JSON.stringify(e.payload));
        delete p.startedAt;
        delete p.traceparent;
        delete p.parentRunId;
        if (p.event) {
          delete p.event.startedAt;
          delete p.event.durationMs;
        }
        if (p.result) {
          delete p.result.startedAt;
          delete p.result.finishedAt;
        }
        return [e.hook, p];
      });
    const a = new MemorySink('a');
    const b = new MemorySink('b');
    await runDemoAgent(RLMObservability.withSinks([a], { flushOnExit: false }), {
      seed: 3,
      stepDelayMs: 0,
    });
    await runDemoAgent(RLMObservability.withSinks([b], { flushOnExit: false }), {
      seed: 3,
      stepDelayMs: 0,
    });
    expect(strip(a)).toEqual(strip(b));
    expect(a.count('onRunEnd')).toBe(3 + 4);
  });
});
