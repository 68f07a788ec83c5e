/**
 * The query views over directories the plain recording test does not make:
 *
 * - a torn last line in starts.jsonl or runs.jsonl (a crash mid-write) names no run;
 * - a run replayed into the directory that already has it, whose steps were recorded without
 *   their own `startedAt` (replay adds `startedAt` and `durationMs`): each step counts once,
 *   also when the first recording's steps are in a rotated part;
 * - runs known only from their steps files (a Python `rlm-code` run that crashed, a run whose
 *   start line is gone) are open runs, with the ids the OTel sinks derive, as `rlm-obs runs`
 *   lists them;
 * - `records` gives a step without a `success` flag the OTel sink's status (ERROR) and the
 *   cost under Logfire's `operation.cost` too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RLMObservability, spanIdFromRunId, traceIdFromRunId } from '@rlm/obs-core';
import { createJsonlSink, openJsonlStore, stepFileName } from '@rlm/sink-jsonl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryEngine } from '../src/query/engine.js';
import { VIEW_DOCS } from '../src/query/schema.js';
import { tempDir } from './cli-helpers.js';

let tmp: ReturnType<typeof tempDir>;

beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp?.remove());

/** Records `runs` runs of three steps each, without step times (run.step()'s default). */
async function record(dir: string, ids: string[]): Promise<void> {
  const obs = RLMObservability.withSinks([createJsonlSink({ dir })], {
    flushOnExit: false,
    logger: false,
    pricing: false,
  });
  for (const runId of ids) {
    const run = obs.startRun({ runId, task: `task ${runId}`, environment: 'pure_rlm' });
    run.step({
      action: { action: 'run_python', code: 'a' },
      observation: { success: true, output: '1' },
      reward: 1,
      usage: { model: 'm1', inputTokens: 10, outputTokens: 2, costUsd: 0.01 },
    });
    run.step({
      action: { action: 'run_python', code: 'b' },
      observation: { success: false, error: 'boom' },
      reward: 0.5,
    });
    // No success flag at all.
    run.step({
      action: { action: 'final', code: 'c' },
      observation: { output: 'done' },
      reward: 2,
    });
    run.score('correctness', 0.5, { source: 'judge' });
    run.end({ completed: true, finalAnswer: 'done' });
  }
  await obs.shutdown();
}

const readLines = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const writeLines = (file: string, lines: unknown[], flag = 'a') =>
  fs.writeFileSync(file, lines.map((l) => `${JSON.stringify(l)}\n`).join(''), { flag });

/**
 * What `replay --to jsonl` of `dir`'s runs into `dir` itself appends: every line again with a
 * new `timestamp`, and each step's event with the `startedAt` and `durationMs` it computed.
 */
function appendReplay(dir: string): void {
  const later = (line: Record<string, unknown>) => ({
    ...line,
    timestamp: new Date(Date.parse(String(line.timestamp)) + 60_000).toISOString(),
  });
  for (const name of ['starts.jsonl', 'runs.jsonl', 'scores.jsonl'])
    writeLines(path.join(dir, name), readLines(path.join(dir, name)).map(later));
  const stepsDir = path.join(dir, 'steps');
  for (const name of fs.readdirSync(stepsDir)) {
    if (name.includes('~')) continue;
    const file = path.join(stepsDir, name);
    const lines = readLines(file);
    let previous = Date.parse(String(lines[0]!.timestamp)) - 100;
    writeLines(
      file,
      lines.map((line) => {
        const end = Date.parse(String(line.timestamp));
        const event = {
          ...(line.event as object),
          startedAt: new Date(previous).toISOString(),
          durationMs: end - previous,
        };
        previous = end;
        return { ...later(line), event };
      }),
    );
  }
}

const TOTALS = `SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM steps) AS steps,
  (SELECT sum(reward) FROM steps) AS reward, (SELECT count(*) FROM scores) AS scores,
  (SELECT count(*) FROM llm_calls) AS calls, (SELECT count(*) FROM records) AS records,
  (SELECT count(*) FROM records WHERE run_id IS NULL OR trace_id IS NULL OR span_id IS NULL) AS blank`;

async function totals(dir: string): Promise<Record<string, unknown>> {
  const engine = await QueryEngine.open(dir);
  try {
    return (await engine.query(TOTALS)).rows[0]!;
  } finally {
    engine.close();
  }
}

describe('a torn last line in starts.jsonl or runs.jsonl', () => {
  it('names no run: no blank run, no id-less records', async () => {
    const dir = path.join(tmp.dir, 'torn');
    await record(dir, ['run-a', 'run-b']);
    const before = await totals(dir);
    expect(before).toMatchObject({ runs: 2, steps: 6, blank: 0 });
    // A crash mid-write of a third run's start, and of another run's end.
    fs.appendFileSync(
      path.join(dir, 'starts.jsonl'),
      '{"timestamp":"2026-11-23T05:40:00Z","run_id":"run-z","sta',
    );
    fs.appendFileSync(path.join(dir, 'runs.jsonl'), '{"timestamp":"2026-11-23T05:40:00Z","run_');
    expect(await totals(dir)).toEqual(before);
    const engine = await QueryEngine.open(dir);
    try {
      expect((await engine.query('SELECT run_id, state FROM runs ORDER BY 1')).rows).toEqual([
        { run_id: 'run-a', state: 'ended' },
        { run_id: 'run-b', state: 'ended' },
      ]);
    } finally {
      engine.close();
    }
  });
});

describe('a run replayed into the directory that has it', () => {
  it('counts each step once though replay added startedAt and durationMs to its event', async () => {
    const original = path.join(tmp.dir, 'untimed');
    const replayed = path.join(tmp.dir, 'untimed-replayed');
    await record(original, ['run-a', 'run-b']);
    fs.cpSync(original, replayed, { recursive: true });
    appendReplay(replayed);
    // The lines are there twice, the events of the second ones with times.
    const lines = readLines(path.join(replayed, 'steps', 'run-a.jsonl'));
    expect(lines).toHaveLength(6);
    expect((lines[0]!.event as Record<string, unknown>).startedAt).toBeUndefined();
    expect((lines[3]!.event as Record<string, unknown>).durationMs).toEqual(expect.any(Number));

    const expected = await totals(original);
    expect(expected).toMatchObject({ runs: 2, steps: 6, reward: 7, scores: 6, blank: 0 });
    expect(await totals(replayed)).toEqual(expected);
    const engine = await QueryEngine.open(replayed);
    try {
      expect(
        (await engine.query('SELECT total_reward, steps, step_count_observed FROM runs')).rows,
      ).toEqual([
        { total_reward: 3.5, steps: 3, step_count_observed: 3 },
        { total_reward: 3.5, steps: 3, step_count_observed: 3 },
      ]);
      // The line kept is the latest, with the times replay gave the step.
      const steps = (
        await engine.query(
          `SELECT step, started_at, duration_ms FROM steps WHERE run_id = 'run-a' ORDER BY step`,
        )
      ).rows;
      expect(steps.map((s) => s.started_at)).toEqual(
        lines.slice(3).map((l) => (l.event as Record<string, unknown>).startedAt),
      );
    } finally {
      engine.close();
    }
  });

  it('also when the first recording is in a rotated part of the steps file', async () => {
    const original = path.join(tmp.dir, 'split');
    const replayed = path.join(tmp.dir, 'split-replayed');
    await record(original, ['run-a']);
    fs.cpSync(original, replayed, { recursive: true });
    appendReplay(replayed);
    // The first recording's lines in part ~1, the replayed ones in the current file.
    const file = path.join(replayed, 'steps', 'run-a.jsonl');
    const lines = readLines(file);
    writeLines(path.join(replayed, 'steps', 'run-a~1.jsonl'), lines.slice(0, 3), 'w');
    writeLines(file, lines.slice(3), 'w');
    expect(await totals(replayed)).toEqual(await totals(original));
  });

  it('a step that differs in more than its times stays two steps', async () => {
    const dir = path.join(tmp.dir, 'reused');
    await record(dir, ['run-a']);
    appendReplay(dir);
    const file = path.join(dir, 'steps', 'run-a.jsonl');
    const lines = readLines(file);
    // The replayed step 3 says something else: not the same step.
    const last = lines[5]!;
    (last.event as { observation: { output: string } }).observation.output = 'other';
    writeLines(file, lines, 'w');
    expect(await totals(dir)).toMatchObject({ runs: 1, steps: 4 });
  });
});

describe('runs known only from their steps files', () => {
  const pyLine = (runId: string, step: number, timestamp: string) => ({
    timestamp,
    run_id: runId,
    step,
    action: 'run_python',
    reward: 0.5,
    cumulative_reward: 0.5 * step,
    success: true,
  });

  it('are open runs with the derived ids, as `rlm-obs runs` lists them', async () => {
    const dir = path.join(tmp.dir, 'step-only');
    await record(dir, ['run-a']);
    const stepsDir = path.join(dir, 'steps');
    // A Python run that crashed: steps only, no start or end line.
    writeLines(path.join(stepsDir, 'py-crashed.jsonl'), [
      pyLine('py-crashed', 1, '2025-06-01T12:00:02+00:00'),
      pyLine('py-crashed', 2, '2025-06-01T12:00:05+00:00'),
    ]);
    // A run whose id is not a file name, its start line lost.
    const odd = 'run é/日本';
    writeLines(path.join(stepsDir, stepFileName(odd)), [
      pyLine(odd, 1, '2025-06-01T13:00:00+00:00'),
    ]);
    const engine = await QueryEngine.open(dir);
    try {
      const runs = (
        await engine.query(
          'SELECT run_id, state, started_at, trace_id, span_id, root_run_id FROM runs ORDER BY run_id',
        )
      ).rows;
      expect(runs.map((r) => [r.run_id, r.state])).toEqual([
        ['py-crashed', 'open'],
        ['run é/日本', 'open'],
        ['run-a', 'ended'],
      ]);
      for (const r of runs) {
        expect(r.trace_id).toBe(traceIdFromRunId(r.run_id as string));
        expect(r.span_id).toBe(spanIdFromRunId(r.run_id as string));
        expect(r.root_run_id).toBe(r.run_id);
      }
      // Started at its first step, the steps view's start of that step.
      expect(runs[0]!.started_at).toBe('2025-06-01T12:00:02.000Z');
      const listed = await openJsonlStore(dir).listRuns();
      expect(listed.map((r) => [r.runId, r.state]).sort()).toEqual(
        runs.map((r) => [r.run_id, r.state]).sort(),
      );
      // Their step spans have the ids the OTel sinks export, under their run span.
      const steps = (
        await engine.query(
          `SELECT step_spans.run_id, step_spans.trace_id, step_spans.span_id, step_spans.parent_span_id,
                  (attributes->>'rlm.step')::INT AS step
           FROM records step_spans WHERE span_name = 'rlm.step' AND run_id = 'py-crashed' ORDER BY step`,
        )
      ).rows;
      expect(steps).toEqual(
        [1, 2].map((step) => ({
          run_id: 'py-crashed',
          trace_id: traceIdFromRunId('py-crashed'),
          span_id: spanIdFromRunId('py-crashed', step),
          parent_span_id: spanIdFromRunId('py-crashed'),
          step,
        })),
      );
      expect(
        (await engine.query(`SELECT count(*) AS n FROM records WHERE span_name = 'rlm.run'`))
          .rows[0]!.n,
      ).toBe(3);
      expect(
        (
          await engine.query(
            `SELECT count(*) AS n FROM records WHERE trace_id IS NULL OR span_id IS NULL`,
          )
        ).rows[0]!.n,
      ).toBe(0);

      // The run ends (its line is written): one run, ended; a rotated part of a known run is
      // no run of its own.
      writeLines(path.join(dir, 'runs.jsonl'), [
        {
          timestamp: '2025-06-01T12:00:06+00:00',
          run_id: 'py-crashed',
          started_at: '2025-06-01T12:00:00+00:00',
          finished_at: '2025-06-01T12:00:06+00:00',
          task: 'python',
          environment: 'dspy',
          params: {},
          completed: false,
          steps: 2,
          step_count_observed: 2,
          total_reward: 1,
        },
      ]);
      fs.renameSync(path.join(stepsDir, 'run-a.jsonl'), path.join(stepsDir, 'run-a~1.jsonl'));
      expect(
        (await engine.query('SELECT run_id, state, started_at FROM runs ORDER BY run_id')).rows,
      ).toEqual([
        { run_id: 'py-crashed', state: 'ended', started_at: '2025-06-01T12:00:00.000Z' },
        { run_id: 'run é/日本', state: 'open', started_at: '2025-06-01T13:00:00.000Z' },
        { run_id: 'run-a', state: 'ended', started_at: expect.any(String) },
      ]);
      expect((await engine.query('SELECT count(*) AS n FROM steps')).rows[0]!.n).toBe(6);
    } finally {
      engine.close();
    }
  });
});

describe('records', () => {
  it("a step's status is OK only when it reported success, as the OTel sink exports it", async () => {
    const dir = path.join(tmp.dir, 'status');
    await record(dir, ['run-a']);
    const engine = await QueryEngine.open(dir);
    try {
      const rows = (
        await engine.query(
          `SELECT (attributes->>'rlm.step')::INT AS step, otel_status_code, otel_status_message,
                  is_exception, level
           FROM records WHERE span_name = 'rlm.step' ORDER BY step`,
        )
      ).rows;
      expect(rows).toEqual([
        {
          step: 1,
          otel_status_code: 'OK',
          otel_status_message: null,
          is_exception: false,
          level: 'info',
        },
        {
          step: 2,
          otel_status_code: 'ERROR',
          otel_status_message: 'boom',
          is_exception: true,
          level: 'error',
        },
        // No success flag: ERROR (not a failure Logfire logs as one, so still 'info').
        {
          step: 3,
          otel_status_code: 'ERROR',
          otel_status_message: null,
          is_exception: false,
          level: 'info',
        },
      ]);
    } finally {
      engine.close();
    }
  });

  it("carries the cost as Logfire's operation.cost, and as gen_ai.usage.cost as before", async () => {
    const dir = path.join(tmp.dir, 'cost');
    await record(dir, ['run-a']);
    const engine = await QueryEngine.open(dir);
    try {
      const rows = (
        await engine.query(
          `SELECT span_name, (attributes->>'rlm.step')::INT AS step,
                  (attributes->>'operation.cost')::DOUBLE AS operation_cost,
                  (attributes->>'gen_ai.usage.cost')::DOUBLE AS gen_ai_cost
           FROM records WHERE kind = 'span' ORDER BY span_name, step`,
        )
      ).rows;
      expect(rows).toEqual([
        { span_name: 'rlm.run', step: null, operation_cost: 0.01, gen_ai_cost: 0.01 },
        { span_name: 'rlm.step', step: 1, operation_cost: 0.01, gen_ai_cost: 0.01 },
        { span_name: 'rlm.step', step: 2, operation_cost: null, gen_ai_cost: null },
        { span_name: 'rlm.step', step: 3, operation_cost: null, gen_ai_cost: null },
      ]);
      const doc = VIEW_DOCS.records.find((c) => c.name === 'attributes')!.doc;
      expect(doc).toContain('operation.cost');
    } finally {
      engine.close();
    }
  });
});
