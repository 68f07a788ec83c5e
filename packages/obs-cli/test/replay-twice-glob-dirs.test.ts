/**
 * Two things of the local directory the commands read, through the built binary:
 *
 * - Replaying the same runs twice into one local directory (`replay --to jsonl`, the default
 *   directory of the working directory) writes their lines again; `runs`, `show`, `query` and
 *   the reader count each step and score once, as they already did each run. A step number
 *   the agent itself reused for another step stays two steps.
 * - A directory whose name has glob characters (`br[ack]et`, `g*` next to `gX`, `q?`, a
 *   quote, a backslash) is read as itself by `query` and `view` (DuckDB takes paths as globs).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink, LocalJSONLSink, openJsonlStore } from '@rlm/sink-jsonl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemoAgent } from '../src/demo-agent.js';
import { QueryEngine } from '../src/query/engine.js';
import { rlmObs, spawnRlmObs, tempDir } from './cli-helpers.js';

let tmp: ReturnType<typeof tempDir>;
/** The recording: the demo agent through the jsonl sink. */
let source: string;

beforeAll(async () => {
  tmp = tempDir();
  source = path.join(tmp.dir, 'source');
  const obs = RLMObservability.withSinks([createJsonlSink({ dir: source })], {
    flushOnExit: false,
    logger: false,
  });
  await runDemoAgent(obs, { seed: 7, runs: 2, steps: 4, stepDelayMs: 0 });
  await obs.shutdown();
}, 60_000);

afterAll(() => tmp?.remove());

const TOTALS = `SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM steps) AS steps,
  (SELECT count(*) FROM scores) AS scores, (SELECT count(*) FROM llm_calls) AS calls,
  (SELECT count(*) FROM records) AS records, (SELECT sum(input_tokens) FROM steps) AS tokens,
  (SELECT round(sum(cost_usd), 9) FROM steps) AS cost`;

async function totals(dir: string, cwd = tmp.dir): Promise<Record<string, unknown>> {
  const result = await rlmObs(['query', TOTALS, '--dir', dir, '--json'], { cwd });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return (JSON.parse(result.stdout) as Record<string, unknown>[])[0]!;
}

interface RunJson {
  runId: string;
  stepCountObserved?: number | null;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number | null;
}

async function runsJson(dir: string, cwd = tmp.dir): Promise<RunJson[]> {
  const result = await rlmObs(['runs', '--dir', dir, '--json'], { cwd });
  expect(result.code).toBe(0);
  const runs = (JSON.parse(result.stdout) as { runs: RunJson[] }).runs;
  return runs
    .map((r) => ({
      runId: r.runId,
      stepCountObserved: r.stepCountObserved,
      inputTokens: r.inputTokens,
      outputTokens: r.outputTokens,
      costUsd: r.costUsd,
    }))
    .sort((a, b) => a.runId.localeCompare(b.runId));
}

describe('replay twice into the same local directory', () => {
  it('runs, show, query and the reader count every step and score once', async () => {
    const cwd = path.join(tmp.dir, 'replay-cwd');
    fs.mkdirSync(cwd);
    for (let i = 0; i < 2; i++) {
      const replay = await rlmObs(['replay', '--all', '--to', 'jsonl', '--dir', source], { cwd });
      expect(replay.stderr).toBe('');
      expect(replay.code).toBe(0);
    }
    const target = path.join(cwd, '.rlm_code', 'rlm', 'observability');
    // The lines are there twice (nothing recorded is ever removed) ...
    const sourceStore = openJsonlStore(source);
    const runIds = (await sourceStore.listRuns()).map((r) => r.runId);
    const firstSteps = fs
      .readFileSync(path.join(target, 'steps', `${runIds[0]}.jsonl`), 'utf8')
      .trim()
      .split('\n');
    expect(firstSteps.length).toBe(2 * (await sourceStore.readRun(runIds[0]!)).steps.length);

    // ... but count once: in the reader,
    const targetStore = openJsonlStore(target);
    for (const runId of runIds) {
      const before = await sourceStore.readRun(runId);
      const after = await targetStore.readRun(runId);
      expect(after.steps.map((s) => s.event)).toEqual(before.steps.map((s) => s.event));
      expect(after.stepTimes).toHaveLength(after.steps.length);
      expect(after.summary.stepCountObserved).toBe(before.steps.length);
      expect(after.scores).toEqual(before.scores);
    }
    // in query (every view),
    expect(await totals(target, cwd)).toEqual(await totals(source, cwd));
    // in runs (steps, tokens and cost),
    expect(await runsJson(target, cwd)).toEqual(await runsJson(source, cwd));
    // and in show.
    for (const runId of runIds) {
      const show = async (dir: string) => {
        const result = await rlmObs(['show', runId, '--dir', dir, '--json'], { cwd });
        expect(result.code).toBe(0);
        const parsed = JSON.parse(result.stdout) as {
          steps?: unknown[];
          scores?: unknown[];
          stats?: unknown;
        };
        return { steps: parsed.steps?.length, scores: parsed.scores?.length, stats: parsed.stats };
      };
      expect(await show(target)).toEqual(await show(source));
    }
  }, 120_000);

  it('a step number reused for a different step, and Python lines, are never merged', async () => {
    const dir = path.join(tmp.dir, 'reused');
    const sink = new LocalJSONLSink({ dir });
    sink.onRunStart('reuse', { task: 't', environment: 'e', params: {} });
    sink.onStep('reuse', { event: { step: 1, action: { action: 'a' } }, cumulativeReward: 0 });
    sink.onStep('reuse', { event: { step: 1, action: { action: 'b' } }, cumulativeReward: 0 });
    sink.onStep('reuse', { event: { step: 2, reward: 1 }, cumulativeReward: 1 });
    sink.onStep('reuse', { event: { step: 2, reward: 1 }, cumulativeReward: 2 });
    sink.onScore('reuse', { name: 'q', value: 1, kind: 'score', at: '2026-01-01T00:00:00.000Z' });
    sink.onScore('reuse', { name: 'q', value: 2, kind: 'score', at: '2026-01-01T00:00:00.000Z' });
    await sink.shutdown();
    // A Python directory: two identical lines apart from their timestamp stay two steps.
    const python = { run_id: 'py', step: 1, action: 'run_python', reward: 0, success: true };
    fs.writeFileSync(
      path.join(dir, 'steps', 'py.jsonl'),
      `${JSON.stringify({ timestamp: '2026-01-01T00:00:00Z', ...python, cumulative_reward: 0 })}\n${JSON.stringify({ timestamp: '2026-01-01T00:00:01Z', ...python, cumulative_reward: 0 })}\n`,
    );
    const store = openJsonlStore(dir);
    expect((await store.readRun('reuse')).steps).toHaveLength(4);
    expect((await store.readRun('reuse')).scores).toHaveLength(2);
    expect((await store.readRun('py')).steps).toHaveLength(2);
    const engine = await QueryEngine.open(dir);
    try {
      const counts = await engine.query(
        `SELECT run_id, count(*) AS n FROM steps GROUP BY 1 ORDER BY 1`,
      );
      expect(counts.rows).toEqual([
        { run_id: 'py', n: 2 },
        { run_id: 'reuse', n: 4 },
      ]);
      expect((await engine.query('SELECT * FROM scores')).rows).toHaveLength(2);
    } finally {
      engine.close();
    }
  });
});

describe('a query engine left open while a run is recorded again', () => {
  it('de-duplicates from the query after the repeat, and not before (no cost without one)', async () => {
    const dir = path.join(tmp.dir, 'live');
    const record = async () => {
      const obs = RLMObservability.withSinks([createJsonlSink({ dir })], {
        flushOnExit: false,
        logger: false,
      });
      const run = obs.startRun({ runId: 'live-run', task: 't' });
      for (let i = 1; i <= 3; i++)
        run.step({ step: i, reward: 1, startedAt: '2026-11-23T00:00:00.000Z' });
      run.end({ finishedAt: '2026-11-23T00:00:01.000Z' });
      await obs.shutdown();
    };
    await record();
    const engine = await QueryEngine.open(dir);
    try {
      const count = async (view: string) =>
        Number((await engine.query(`SELECT count(*) AS n FROM ${view}`)).rows[0]!.n);
      const plan = async () =>
        JSON.stringify((await engine.query('EXPLAIN SELECT * FROM rlm_step_lines')).rows);
      expect(await count('steps')).toBe(3);
      expect(await plan()).not.toMatch(/WINDOW/i);
      // The same run recorded again into the same files (what a replay does).
      await record();
      expect(await count('steps')).toBe(3);
      expect(await plan()).toMatch(/WINDOW/i);
    } finally {
      engine.close();
    }
  });
});

describe('directories with glob characters in their names', () => {
  const names = ['br[ack]et', 'g*', 'q?', "we'ird", 'c{a,b}', 'back\\slash'];

  it('query reads the directory itself, never a sibling the name would match as a glob', async () => {
    const base = path.join(tmp.dir, 'globs');
    fs.mkdirSync(base);
    const expected = await totals(source);
    for (const name of names) fs.cpSync(source, path.join(base, name), { recursive: true });
    // Siblings a glob would match: gX for g*, qX for q?, brat for br[ack]et, back/slash.
    const siblings = ['gX', 'qX', 'brat', 'backXslash'];
    for (const sibling of siblings) {
      const obs = RLMObservability.withSinks([createJsonlSink({ dir: path.join(base, sibling) })], {
        flushOnExit: false,
        logger: false,
      });
      await runDemoAgent(obs, { seed: 9, runs: 1, steps: 2, stepDelayMs: 0 });
      await obs.shutdown();
    }
    for (const name of names) {
      expect({ name, ...(await totals(path.join(base, name), base)) }).toEqual({
        name,
        ...expected,
      });
      // Relative to the working directory too.
      expect(await totals(name, base)).toEqual(expected);
    }
  }, 120_000);

  it('view starts on such a directory and lists its runs', async () => {
    const dir = path.join(tmp.dir, 'view [1]*?');
    fs.cpSync(source, dir, { recursive: true });
    const server = spawnRlmObs(['view', '--dir', dir, '--port', '0', '--json'], tmp.dir);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`viewer did not start: ${out}`)), 20_000);
        server.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (line) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { url: string }).url);
          }
        });
        server.stderr!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        server.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`viewer exited ${code}: ${out}`));
        });
      });
      const response = await fetch(new URL('api/runs', url));
      expect(response.status).toBe(200);
      const body = (await response.json()) as { runs: Array<{ runId: string; stepCount: number }> };
      const runs = await openJsonlStore(source).listRuns();
      expect(body.runs.map((r) => r.runId).sort()).toEqual(runs.map((r) => r.runId).sort());
      expect(body.runs.reduce((n, r) => n + r.stepCount, 0)).toBe(
        (await totals(source)).steps as number,
      );
    } finally {
      server.kill();
    }
  }, 60_000);
});
