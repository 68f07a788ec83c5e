/**
 * Local retention: steps files rotate into parts that read back complete and in order, and
 * pruning removes the oldest finished runs (never open ones) by size and by age, with their
 * lines dropped from the index files, counted in the status.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { describe, expect, it, vi } from 'vitest';
import { parsePartFileName, stepPartFileName } from '../src/file-names.js';
import {
  createJsonlSinkFromEnv,
  LocalJSONLSink,
  openJsonlStore,
  stepFileName,
} from '../src/index.js';
import { listFiles, quiet, readLines, useTempDirs } from './helpers.js';

const dir = useTempDirs();
const HOUR = 3_600_000;

function dirSize(base: string): number {
  return listFiles(base).reduce((sum, f) => sum + fs.statSync(path.join(base, f)).size, 0);
}

function stepNumbers(file: string): number[] {
  return readLines(file).map((l) => l.step as number);
}

describe('local-jsonl retention: rotation of steps files', () => {
  it('a run written across several parts reads back complete and in order', async () => {
    const base = dir();
    const sink = new LocalJSONLSink({ dir: base, retention: { maxStepFileBytes: 4000 } });
    const obs = RLMObservability.withSinks([sink], quiet);
    const run = obs.startRun({ runId: 'long-run', task: 't' });
    for (let i = 1; i <= 120; i++) {
      run.step({ action: { action: 'run_python', code: `print(${i})` }, reward: 1 });
      // Some steps go out in batches of one, others many at once (a batch is cut too).
      if (i % 7 === 0 || i > 100) await obs.flush();
    }
    run.end();
    await obs.shutdown();

    const names = fs.readdirSync(path.join(base, 'steps')).sort();
    const parts = names.filter((n) => parsePartFileName(n) !== undefined);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(names).toContain('long-run.jsonl');
    expect(parts).toContain(stepPartFileName('long-run', 1));
    // Parts 1..n, each within the limit, each holding whole lines, in step order.
    const ordered = [
      ...Array.from({ length: parts.length }, (_, i) =>
        path.join(base, 'steps', stepPartFileName('long-run', i + 1)),
      ),
      path.join(base, 'steps', 'long-run.jsonl'),
    ];
    const all: number[] = [];
    for (const file of ordered) {
      expect(fs.statSync(file).size).toBeLessThanOrEqual(4000);
      all.push(...stepNumbers(file));
    }
    expect(all).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(sink.status().rotated).toBe(parts.length);

    const store = openJsonlStore(base);
    const back = await store.readRun('long-run');
    expect(back.steps.map((s) => s.event.step)).toEqual(all);
    expect(back.summary.stepCountObserved).toBe(120);
    expect((await store.stepFiles('long-run')).map((f) => path.basename(f))).toEqual(
      ordered.map((f) => path.basename(f)),
    );
    // Parts are not listed as runs of their own.
    expect((await store.listRuns()).map((r) => r.runId)).toEqual(['long-run']);
  });

  it('a rotated name can never be a plain run id, and hashed names rotate too', async () => {
    expect(stepPartFileName('run-1', 1)).toBe('run-1~1.jsonl');
    // A run id that looks like a part gets a hashed file name, not the part's.
    expect(stepFileName('run-1~1')).not.toBe('run-1~1.jsonl');
    expect(parsePartFileName(stepFileName('run-1.1'))).toBeUndefined();
    expect(parsePartFileName(stepFileName('../weird id'))).toBeUndefined();
    const base = dir();
    const sink = new LocalJSONLSink({ dir: base, retention: { maxStepFileBytes: 1500 } });
    const id = 'weird/run id';
    for (let i = 1; i <= 40; i++)
      sink.onStep(id, { event: { step: i, output: 'x'.repeat(50) }, cumulativeReward: 0 });
    // One line longer than the limit gets a part of its own.
    sink.onStep(id, { event: { step: 41, output: 'y'.repeat(5000) }, cumulativeReward: 0 });
    sink.onStep(id, { event: { step: 42 }, cumulativeReward: 0 });
    await sink.shutdown();
    const back = await openJsonlStore(base).readRun(id);
    expect(back.steps.map((s) => s.event.step)).toEqual(
      Array.from({ length: 42 }, (_, i) => i + 1),
    );
    expect(sink.status().rotated).toBeGreaterThanOrEqual(3);
    for (const name of fs.readdirSync(path.join(base, 'steps'))) {
      const lines = readLines(path.join(base, 'steps', name));
      if (fs.statSync(path.join(base, 'steps', name)).size > 1500) expect(lines).toHaveLength(1);
    }
  });

  it('a later process continues the part numbers of an earlier one', async () => {
    const base = dir();
    const write = async (from: number, to: number) => {
      const sink = new LocalJSONLSink({ dir: base, retention: { maxStepFileBytes: 1000 } });
      for (let i = from; i <= to; i++)
        sink.onStep('again', { event: { step: i, pad: 'p'.repeat(40) }, cumulativeReward: i });
      await sink.shutdown();
      return sink.status().rotated as number;
    };
    const first = await write(1, 30);
    const second = await write(31, 60);
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(0);
    const back = await openJsonlStore(base).readRun('again');
    expect(back.steps.map((s) => s.event.step)).toEqual(
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    const parts = fs.readdirSync(path.join(base, 'steps')).filter((n) => n.includes('~'));
    expect(parts).toHaveLength(first + second);
  });
});

/** A run through the sink's hooks with given times, a steps file of about `bytes`. */
function fakeRun(
  sink: LocalJSONLSink,
  runId: string,
  finishedAt: string | undefined,
  bytes = 10_000,
): void {
  sink.onRunStart(runId, { task: `task ${runId}`, environment: 'e', params: {} });
  const steps = Math.ceil(bytes / 1000);
  for (let i = 1; i <= steps; i++)
    sink.onStep(runId, { event: { step: i, output: 'o'.repeat(850) }, cumulativeReward: 0 });
  sink.onScore(runId, {
    name: 'thumbs',
    value: true,
    kind: 'feedback',
    at: new Date().toISOString(),
  });
  if (finishedAt !== undefined)
    sink.onRunEnd(runId, { result: { completed: true, finishedAt, steps } });
}

const ids = (file: string) => [...new Set(readLines(file).map((l) => l.run_id as string))].sort();

describe('local-jsonl retention: pruning', () => {
  it('by size: the oldest finished runs go until the directory fits; open runs stay', async () => {
    const base = dir();
    const sink = new LocalJSONLSink({
      dir: base,
      retention: { maxTotalBytes: 25_000, checkIntervalMs: 3_600_000, maxStepFileBytes: 4000 },
    });
    const t0 = Date.parse('2026-03-01T00:00:00Z');
    // The open run is the oldest of all, and its steps file is rotated into parts.
    fakeRun(sink, 'open-old', undefined);
    for (let i = 1; i <= 5; i++) fakeRun(sink, `done-${i}`, new Date(t0 + i * HOUR).toISOString());
    // An open run of another process, started long ago: a start line only.
    fs.appendFileSync(
      path.join(base, 'starts.jsonl'),
      `${JSON.stringify({ timestamp: '2020-01-01T00:00:00Z', run_id: 'other-proc', started_at: '2020-01-01T00:00:00Z', task: 'x', environment: 'e', params: {}, pid: 1 })}\n`,
    );
    await sink.forceFlush(); // flushes, then prunes
    const status = sink.status();
    expect(dirSize(base)).toBeLessThanOrEqual(25_000);
    // done-1..done-4 had to go (about 10 kB each); done-5 and the open run fit.
    expect(status).toMatchObject({ pruned_runs: 4, lines_failed: 0, lines_dropped: 0 });
    expect(ids(path.join(base, 'runs.jsonl'))).toEqual(['done-5']);
    expect(ids(path.join(base, 'starts.jsonl'))).toEqual(['done-5', 'open-old', 'other-proc']);
    expect(ids(path.join(base, 'scores.jsonl'))).toEqual(['done-5', 'open-old']);
    const stepFiles = fs.readdirSync(path.join(base, 'steps'));
    expect(stepFiles.some((n) => n.startsWith('done-1'))).toBe(false);
    expect(stepFiles.filter((n) => n.startsWith('open-old')).length).toBeGreaterThan(1);
    expect(stepFiles.filter((n) => n.startsWith('done-5')).length).toBeGreaterThan(1);
    const store = openJsonlStore(base);
    expect((await store.listRuns()).map((r) => r.runId).sort()).toEqual([
      'done-5',
      'open-old',
      'other-proc',
    ]);
    expect((await store.readRun('open-old')).steps).toHaveLength(10);
    await expect(store.readRun('done-1')).rejects.toThrow(/no run/);
    await sink.shutdown();
  });

  it('pruned_bytes is what the directory lost, and lines written during a pass are kept', async () => {
    const base = dir();
    const writer = new LocalJSONLSink({ dir: base });
    const t0 = Date.parse('2026-03-01T00:00:00Z');
    for (let i = 1; i <= 4; i++) fakeRun(writer, `r-${i}`, new Date(t0 + i * HOUR).toISOString());
    await writer.shutdown();
    const before = dirSize(base);
    const sink = new LocalJSONLSink({
      dir: base,
      retention: { maxTotalBytes: before - 15_000, checkIntervalMs: 3_600_000 },
    });
    const pass = sink.prune();
    // Written while the pass runs: held in memory, then appended to the rewritten files.
    sink.onScore('r-4', { name: 'late', value: 1, kind: 'feedback', at: new Date().toISOString() });
    sink.onRunStart('new-run', { task: 'n', environment: 'e', params: {} });
    await pass;
    const status = sink.status();
    expect(status.pruned_runs).toBe(2);
    expect(status.prune_passes).toBe(1);
    await sink.shutdown();
    // What the directory lost, counting back the two lines written meanwhile.
    const added = ['scores.jsonl', 'starts.jsonl']
      .flatMap((f) => fs.readFileSync(path.join(base, f), 'utf8').split('\n'))
      .filter((l) => l.includes('"late"') || l.includes('"new-run"'))
      .reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0);
    expect(added).toBeGreaterThan(0);
    expect(before - dirSize(base) + added).toBe(status.pruned_bytes);
    expect(ids(path.join(base, 'runs.jsonl'))).toEqual(['r-3', 'r-4']);
    expect(ids(path.join(base, 'starts.jsonl'))).toEqual(['new-run', 'r-3', 'r-4']);
    expect(readLines(path.join(base, 'scores.jsonl')).map((l) => [l.run_id, l.name])).toEqual([
      ['r-3', 'thumbs'],
      ['r-4', 'thumbs'],
      ['r-4', 'late'],
    ]);
    // No temporary file is left behind.
    expect(listFiles(base).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('by age: finished runs older than maxAgeDays go, recent and open ones stay', async () => {
    const base = dir();
    const sink = new LocalJSONLSink({
      dir: base,
      retention: { maxAgeDays: 7, checkIntervalMs: 3_600_000 },
    });
    const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
    fakeRun(sink, 'old-1', daysAgo(30), 3000);
    fakeRun(sink, 'old-2', daysAgo(8), 3000);
    fakeRun(sink, 'recent', daysAgo(1), 3000);
    fakeRun(sink, 'open', undefined, 3000);
    await sink.shutdown(); // flushes, prunes, closes
    expect(sink.status()).toMatchObject({ pruned_runs: 2 });
    expect(ids(path.join(base, 'runs.jsonl'))).toEqual(['recent']);
    expect(ids(path.join(base, 'starts.jsonl'))).toEqual(['open', 'recent']);
    expect(fs.readdirSync(path.join(base, 'steps')).sort()).toEqual(['open.jsonl', 'recent.jsonl']);
  });

  it('runs by itself on an unref-ed timer', async () => {
    const base = dir();
    const sink = new LocalJSONLSink({
      dir: base,
      retention: { maxAgeDays: 1, checkIntervalMs: 20 },
    });
    fakeRun(sink, 'stale', new Date(Date.now() - 5 * 86_400_000).toISOString(), 2000);
    fakeRun(sink, 'fresh', new Date().toISOString(), 2000);
    await expect.poll(() => sink.status().pruned_runs, { timeout: 10_000 }).toBe(1);
    expect(ids(path.join(base, 'runs.jsonl'))).toEqual(['fresh']);
    await sink.shutdown();
  });

  it('retention from the environment, options winning; off by default', async () => {
    const base = dir();
    const sink = createJsonlSinkFromEnv(
      {
        RLM_OBS_JSONL_DIR: base,
        RLM_OBS_JSONL_MAX_BYTES: '1000000',
        RLM_OBS_JSONL_MAX_AGE_DAYS: '14',
        RLM_OBS_JSONL_MAX_STEP_FILE_BYTES: 'not a number',
      },
      { retention: { maxAgeDays: 3 } },
    );
    expect(sink.retention).toEqual({ maxTotalBytes: 1_000_000, maxAgeDays: 3 });
    await sink.shutdown();
    const off = new LocalJSONLSink({ dir: base });
    expect(off.retention).toEqual({});
    fakeRun(off, 'kept', new Date(0).toISOString(), 1000);
    await off.shutdown();
    expect(off.status()).toMatchObject({ rotated: 0, pruned_runs: 0, pruned_bytes: 0 });
    expect(ids(path.join(base, 'runs.jsonl'))).toEqual(['kept']);
  });
});

describe('the writer during an exclusive section', () => {
  it('holds new lines for the files in memory and writes them after, into the new file', async () => {
    const { JsonlWriter } = await import('../src/jsonl-writer.js');
    const base = dir();
    const file = path.join(base, 'index.jsonl');
    const writer = new JsonlWriter();
    const line = (_id: string, payload: unknown, _t: number, write: (p: string) => void) =>
      write(JSON.stringify(payload));
    writer.append(file, line, 'r', { n: 1 }, 0);
    await writer.flush();
    let seenInside = '';
    await writer.exclusive([file], async () => {
      writer.append(file, line, 'r', { n: 2 }, 0);
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      seenInside = fs.readFileSync(file, 'utf8');
      // An atomic rewrite: a new file under the same name.
      fs.writeFileSync(`${file}.tmp`, `${JSON.stringify({ n: 1, rewritten: true })}\n`);
      fs.renameSync(`${file}.tmp`, file);
    });
    await writer.close();
    expect(seenInside).toBe('{"n":1}\n');
    expect(readLines(file)).toEqual([{ n: 1, rewritten: true }, { n: 2 }]);
    expect(writer.stats).toMatchObject({ linesWritten: 2, linesDropped: 0, linesFailed: 0 });
  });
});

describe('the writer batches lines that come one per turn', () => {
  it('an agent stepping every turn costs a write per batch, not per line; flush writes at once', async () => {
    const { JsonlWriter } = await import('../src/jsonl-writer.js');
    const file = path.join(dir(), 'steps.jsonl');
    const line = (_id: string, payload: unknown, _t: number, write: (p: string) => void) =>
      write(JSON.stringify(payload));
    const writer = new JsonlWriter({ writeDelayMs: 50 });
    for (let i = 0; i < 300; i++) {
      writer.append(file, line, 'r', { n: i }, 0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await writer.flush();
    expect(readLines(file)).toHaveLength(300);
    // One write per 50 ms of lines: 300 turns take a few milliseconds, so a write or two (a
    // machine a hundred times slower would still stay far below a write per line).
    expect(writer.stats.writes).toBeLessThan(30);
    // Without the delay: a write per turn.
    const eager = new JsonlWriter({ writeDelayMs: 0 });
    const eagerFile = path.join(dir(), 'eager.jsonl');
    for (let i = 0; i < 50; i++) {
      eager.append(eagerFile, line, 'r', { n: i }, 0);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await eager.close();
    expect(eager.stats.writes).toBeGreaterThan(25);
    await writer.close();
  });
});

describe('the writer reuses its written buffers', () => {
  it('a fast producer allocates a handful of big buffers, not one per write', async () => {
    const { JsonlWriter } = await import('../src/jsonl-writer.js');
    const file = path.join(dir(), 'fast.jsonl');
    const text = 'x'.repeat(500);
    const line = (_id: string, payload: unknown, _t: number, write: (p: string) => void) =>
      write(`{"n":${payload as number},"pad":"${text}"}`);
    const writer = new JsonlWriter();
    const allocations: number[] = [];
    const real = Buffer.allocUnsafe;
    const spy = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => {
      if (size >= 64 * 1024) allocations.push(size);
      return real.call(Buffer, size);
    });
    try {
      // 100 turns of 1,000 lines: ~50 MB. Every other turn waits for its lines to be on disk,
      // so there are dozens of writes (~500 KB–1 MB each) however fast the disk is (waiting
      // for none made this count depend on a loaded CI machine's disk).
      for (let turn = 0; turn < 100; turn++) {
        for (let i = 0; i < 1_000; i++) writer.append(file, line, 'r', turn * 1_000 + i, 0);
        await new Promise((resolve) => setImmediate(resolve));
        if (turn % 2 === 1) await writer.flush();
      }
      await writer.close();
    } finally {
      spy.mockRestore();
    }
    expect(writer.stats.linesWritten).toBe(100_000);
    expect(writer.stats.writes).toBeGreaterThan(50);
    // The small first buffers of a run must not crowd the big ones out of the pool.
    expect(allocations.length).toBeLessThan(20);
  });
});
