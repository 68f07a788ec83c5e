/**
 * A line torn by a crash (a file that does not end in a newline) must never swallow the next
 * line written to the same file: the writer ends it once when it opens the file, so the torn
 * text stays one unreadable line of its own and every new line reads back.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RLMObservability } from '@rlm/obs-core';
import { describe, expect, it } from 'vitest';
import { LocalJSONLSink, openJsonlStore, stepFileName } from '../src/index.js';
import { JsonlWriter } from '../src/jsonl-writer.js';
import { quiet, useTempDirs } from './helpers.js';

const dir = useTempDirs();
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** What a crash mid-write leaves: the start of a line, no newline. */
const TORN = '{"timestamp":"2026-11-23T10:00:00.000Z","run_id":"crashed","na';

/** The lines of a file: every one but `torn` parses; returns the parsed ones. */
function linesAround(file: string, torn = 1): Record<string, unknown>[] {
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  const lines = text.split('\n').slice(0, -1);
  const parsed: Record<string, unknown>[] = [];
  let bad = 0;
  for (const line of lines) {
    try {
      parsed.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      bad++;
      expect(line).toBe(TORN);
    }
  }
  expect(bad).toBe(torn);
  // No blank line was added either.
  expect(lines.every((line) => line !== '')).toBe(true);
  return parsed;
}

function record(obs: RLMObservability, runId: string, steps: number): void {
  const run = obs.startRun({ runId, task: 't', environment: 'e' });
  for (let i = 1; i <= steps; i++)
    run.step({ action: { action: 'run_python', code: `x = ${i}` }, reward: 1 });
  run.score('quality', 0.5);
  run.end({ finalAnswer: 'done' });
}

describe('a torn last line from a crash', () => {
  it('the next lines in runs, starts, scores and steps files start on a line of their own', async () => {
    const base = dir();
    fs.mkdirSync(path.join(base, 'steps'), { recursive: true });
    const files = ['runs.jsonl', 'starts.jsonl', 'scores.jsonl', `steps/${stepFileName('r1')}`];
    for (const name of files) fs.writeFileSync(path.join(base, name), TORN);
    const obs = RLMObservability.withSinks([new LocalJSONLSink({ dir: base })], quiet);
    record(obs, 'r1', 3);
    await obs.shutdown();

    expect(linesAround(path.join(base, 'runs.jsonl')).map((l) => l.run_id)).toEqual(['r1']);
    expect(linesAround(path.join(base, 'starts.jsonl')).map((l) => l.run_id)).toEqual(['r1']);
    expect(linesAround(path.join(base, 'scores.jsonl')).map((l) => l.name)).toContain('quality');
    expect(linesAround(path.join(base, 'steps', 'r1.jsonl')).map((l) => l.step)).toEqual([1, 2, 3]);
    const back = await openJsonlStore(base).readRun('r1');
    expect(back.summary.state).toBe('ended');
    expect(back.steps).toHaveLength(3);
    expect(back.malformedLines).toBe(4);
  });

  it('a second process finds the file ended: no extra newline, nothing glued', async () => {
    const base = dir();
    fs.writeFileSync(path.join(base, 'runs.jsonl'), TORN);
    for (const runId of ['a', 'b']) {
      const obs = RLMObservability.withSinks([new LocalJSONLSink({ dir: base })], quiet);
      record(obs, runId, 1);
      await obs.shutdown();
    }
    expect(linesAround(path.join(base, 'runs.jsonl')).map((l) => l.run_id)).toEqual(['a', 'b']);
    expect((await openJsonlStore(base).listRuns()).map((r) => [r.runId, r.state])).toEqual([
      ['a', 'ended'],
      ['b', 'ended'],
    ]);
  });

  it('holds for rotating steps files: every part ends in a newline and reads back', async () => {
    const base = dir();
    fs.mkdirSync(path.join(base, 'steps'));
    fs.writeFileSync(path.join(base, 'steps', 'rot.jsonl'), TORN);
    const sink = new LocalJSONLSink({ dir: base, retention: { maxStepFileBytes: 1000 } });
    for (let i = 1; i <= 30; i++)
      sink.onStep('rot', { event: { step: i, pad: 'p'.repeat(40) }, cumulativeReward: i });
    await sink.shutdown();
    expect(sink.status().rotated).toBeGreaterThan(0);
    const store = openJsonlStore(base);
    const parsed: unknown[] = [];
    let torn = 0;
    for (const file of await store.stepFiles('rot')) {
      const text = fs.readFileSync(file, 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      for (const line of text.split('\n').slice(0, -1)) {
        if (line === TORN) torn++;
        else parsed.push(JSON.parse(line));
      }
    }
    expect(torn).toBe(1);
    expect(parsed).toHaveLength(30);
    const back = await store.readRun('rot');
    expect(back.steps.map((s) => s.event.step)).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
  });

  it('holds for a file replaced while the writer left it alone (a rewrite, another crash)', async () => {
    const base = dir();
    const file = path.join(base, 'index.jsonl');
    const writer = new JsonlWriter();
    const line = (_id: string, payload: unknown, _t: number, write: (p: string) => void) =>
      write(JSON.stringify(payload));
    writer.append(file, line, 'r', { n: 1 }, 0);
    await writer.flush();
    await writer.exclusive([file], async () => {
      writer.append(file, line, 'r', { n: 2 }, 0);
      // Someone else's rewrite that ends torn (a crash mid-line in another process).
      fs.writeFileSync(`${file}.tmp`, `{"n":1}\n${TORN}`);
      fs.renameSync(`${file}.tmp`, file);
    });
    writer.append(file, line, 'r', { n: 3 }, 0);
    await writer.close();
    expect(linesAround(file)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(writer.stats).toMatchObject({ linesWritten: 3, linesFailed: 0, linesDropped: 0 });
  });

  it('ends the torn line once per open, not on every write', async () => {
    const base = dir();
    const file = path.join(base, 'once.jsonl');
    fs.writeFileSync(file, TORN);
    const writer = new JsonlWriter({ writeDelayMs: 0 });
    const line = (_id: string, payload: unknown, _t: number, write: (p: string) => void) =>
      write(JSON.stringify(payload));
    for (let i = 1; i <= 5; i++) {
      writer.append(file, line, 'r', { n: i }, 0);
      await writer.flush();
    }
    await writer.close();
    expect(linesAround(file).map((l) => l.n)).toEqual([1, 2, 3, 4, 5]);
    expect(fs.statSync(file).size).toBe(TORN.length + 1 + 5 * '{"n":1}\n'.length);
    expect(writer.stats.writes).toBe(5);
  });

  it('holds for what the exit hook writes when the host calls process.exit() (built dist/)', async () => {
    const base = dir();
    fs.mkdirSync(path.join(base, 'steps'));
    for (const name of ['runs.jsonl', 'starts.jsonl', 'scores.jsonl', 'steps/at-exit.jsonl'])
      fs.writeFileSync(path.join(base, name), TORN);
    await promisify(execFile)(process.execPath, [
      path.join(fixtures, 'record-run.mjs'),
      base,
      'at-exit',
      '20',
      'exit',
    ]);
    expect(linesAround(path.join(base, 'runs.jsonl')).map((l) => l.run_id)).toEqual(['at-exit']);
    expect(linesAround(path.join(base, 'steps', 'at-exit.jsonl'))).toHaveLength(20);
    expect(linesAround(path.join(base, 'starts.jsonl'))).toHaveLength(1);
    linesAround(path.join(base, 'scores.jsonl'));
  }, 30_000);
});
