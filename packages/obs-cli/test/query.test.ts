/**
 * `rlm-obs query`: each view over a real recording (the demo agent, through the jsonl sink),
 * ids equal to what the OTel sinks export, LLM usage in its several shapes, crashed runs,
 * Python-written directories, seed 003's example queries, and the command's output formats
 * and errors through the built binary.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { priceUsage, RLMObservability, spanIdFromRunId, traceIdFromRunId } from '@rlm/obs-core';
import { createJsonlSink, openJsonlStore } from '@rlm/sink-jsonl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemoAgent } from '../src/demo-agent.js';
import { QueryEngine, QueryError } from '../src/query/engine.js';
import { VIEW_DOCS } from '../src/query/schema.js';
import { runStats } from '../src/run-stats.js';
import { rlmObs, tempDir } from './cli-helpers.js';

let tmp: ReturnType<typeof tempDir>;
let dir: string;
let engine: QueryEngine;
let demo: Awaited<ReturnType<typeof runDemoAgent>>;
let crashedRunId: string;
let remoteRunId: string;
const REMOTE_PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

beforeAll(async () => {
  tmp = tempDir();
  dir = path.join(tmp.dir, 'obs');
  const obs = RLMObservability.withSinks([createJsonlSink({ dir })], { flushOnExit: false });
  demo = await runDemoAgent(obs, { runs: 3, steps: 6, stepDelayMs: 1 });
  // A run whose steps report usage as a list of LLM calls, in OpenAI's and OTel's shapes,
  // and a start time as an ISO string; it continues a trace from another process.
  const remote = obs.startRun({
    task: 'remote child',
    environment: 'generic',
    params: { max_steps: 2 },
    traceparent: REMOTE_PARENT,
  });
  remoteRunId = remote.id;
  remote.step({
    action: { action: 'run_python', code: 'print(1)' },
    observation: { success: true, output: '1' },
    reward: 1,
    startedAt: new Date(Date.now() - 50).toISOString(),
    durationMs: 20,
    usage: [
      { model: 'gpt-4o', prompt_tokens: 100, completion_tokens: 10, cost: 0.5 },
      {
        'gen_ai.request.model': 'o3',
        'gen_ai.usage.input_tokens': 7,
        'gen_ai.usage.output_tokens': 3,
      },
    ],
  });
  remote.end({ completed: true, finalAnswer: '1' });
  remote.feedback('verdict', 'good enough', { comment: 'checked by hand', step: 1 });
  // A run that crashed: a start and one step, never an end.
  const crashed = obs.startRun({ task: 'crashes', environment: 'generic', params: {} });
  crashedRunId = crashed.id;
  crashed.step({
    action: { action: 'run_python', code: 'boom()' },
    observation: { success: true },
  });
  await obs.shutdown();
  engine = await QueryEngine.open(dir);
}, 60_000);

afterAll(() => {
  engine?.close();
  tmp?.remove();
});

const rows = async (sql: string) => (await engine.query(sql)).rows;

describe('query views over a recording', () => {
  it('every view has the documented columns, in order', async () => {
    for (const [view, columns] of Object.entries(VIEW_DOCS)) {
      const result = await engine.query(`SELECT * FROM ${view} LIMIT 0`);
      expect(
        result.columns.map((c) => c.name),
        view,
      ).toEqual(columns.map((c) => c.name));
    }
  });

  it('runs: every run once, ended or open, with parentage, trace ids and final answers', async () => {
    const store = openJsonlStore(dir);
    const stored = await store.listRuns();
    const runs = await rows('SELECT * FROM runs ORDER BY started_at');
    expect(runs.map((r) => r.run_id).sort()).toEqual(stored.map((r) => r.runId).sort());
    const byId = new Map(runs.map((r) => [r.run_id as string, r]));
    expect(byId.get(crashedRunId)).toMatchObject({
      state: 'open',
      completed: null,
      finished_at: null,
    });
    expect(byId.get(demo.failedRunId)).toMatchObject({ state: 'ended', completed: false });
    for (const id of demo.runIds) {
      const run = byId.get(id)!;
      expect(run.parent_run_id).toBeNull();
      expect(run.trace_id).toBe(traceIdFromRunId(id));
      expect(run.span_id).toBe(spanIdFromRunId(id));
      expect(run.parent_span_id).toBeNull();
    }
    for (const id of demo.nestedRunIds) {
      const run = byId.get(id)!;
      const root = byId.get(run.root_run_id as string)!;
      expect(demo.runIds).toContain(root.run_id);
      expect(run.trace_id).toBe(traceIdFromRunId(root.run_id as string));
      expect(run.parent_span_id).toBe(spanIdFromRunId(run.parent_run_id as string));
    }
    const remote = byId.get(remoteRunId)!;
    expect(remote.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(remote.parent_span_id).toBe('00f067aa0ba902b7');
    expect(remote.final_answer).toBe('1');
    expect(typeof remote.duration_ms).toBe('number');
  });

  it('steps: one row per line, with timing, code, errors and usage summed like the CLI', async () => {
    const store = openJsonlStore(dir);
    const steps = await rows('SELECT * FROM steps');
    let lines = 0;
    for (const summary of await store.listRuns()) {
      const run = await store.readRun(summary.runId);
      lines += run.steps.length;
      const stats = runStats(run);
      const [sums] = await rows(
        `SELECT sum(input_tokens) AS i, sum(output_tokens) AS o, coalesce(sum(cost_usd), 0) AS c,
                count(*) FILTER (WHERE success = false) AS failed
         FROM steps WHERE run_id = '${summary.runId}'`,
      );
      expect(sums!.i ?? 0, summary.runId).toBe(stats.inputTokens);
      expect(sums!.o ?? 0).toBe(stats.outputTokens);
      expect(sums!.c as number).toBeCloseTo(stats.costUsd, 10);
      expect(sums!.failed).toBe(stats.failedSteps);
    }
    expect(steps.length).toBe(lines);
    const failed = steps.find((s) => s.success === false)!;
    expect(failed.error).toMatch(/NameError/);
    expect(failed.code).toContain('values');
    for (const s of steps) {
      expect(Date.parse(s.started_at as string)).toBeLessThanOrEqual(
        Date.parse(s.ended_at as string),
      );
      expect(s.duration_ms).toBeGreaterThanOrEqual(0);
    }
    const [remote] = steps.filter((s) => s.run_id === remoteRunId);
    expect(remote).toMatchObject({ model: 'gpt-4o', input_tokens: 107, output_tokens: 13 });
    // The second call had no cost: the coordinator priced it from the price table.
    const o3 = priceUsage({ model: 'o3', inputTokens: 7, outputTokens: 3 })!;
    expect(o3).toBeGreaterThan(0);
    expect(remote!.cost_usd as number).toBeCloseTo(0.5 + o3, 12);
    expect(remote!.duration_ms).toBe(20);
  });

  it('llm_calls: one row per call, whatever the usage shape', async () => {
    const calls = await rows(
      `SELECT * FROM llm_calls WHERE run_id = '${remoteRunId}' ORDER BY call`,
    );
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      call: 1,
      model: 'gpt-4o',
      input_tokens: 100,
      output_tokens: 10,
      cost_usd: 0.5,
    });
    expect(calls[1]).toMatchObject({ call: 2, model: 'o3', input_tokens: 7, output_tokens: 3 });
    // No cost given: the coordinator priced it from the price table.
    expect(calls[1]!.cost_usd as number).toBeCloseTo(
      priceUsage({ model: 'o3', inputTokens: 7, outputTokens: 3 })!,
      12,
    );
    const cached = await rows('SELECT count(*) AS n FROM llm_calls WHERE cache_read_tokens > 0');
    expect(cached[0]!.n).toBeGreaterThan(0);
  });

  it('records: the span ids, parentage and statuses the OTel sinks export', async () => {
    const records = await rows('SELECT * FROM records');
    const steps = await rows('SELECT run_id, step FROM steps');
    const runs = await rows('SELECT * FROM runs');
    const ended = runs.filter((r) => r.state === 'ended');
    // A span per run and per step; a log when each run started and when it ended.
    expect(records).toHaveLength(steps.length + runs.length * 2 + ended.length);
    const bySpan = new Map(records.map((r) => [r.span_id as string, r]));
    for (const run of runs) {
      const id = run.run_id as string;
      const started = bySpan.get(spanIdFromRunId(id, 'start'));
      expect(started, id).toMatchObject({
        kind: 'log',
        span_name: 'RLM run started',
        message: 'RLM run started',
        level: 'info',
        parent_span_id: spanIdFromRunId(id),
        trace_id: run.trace_id,
        is_exception: false,
        attributes: { run_id: id, environment: run.environment },
      });
      const end = bySpan.get(spanIdFromRunId(id, 'end'));
      if (run.state !== 'ended') {
        expect(end, id).toBeUndefined();
        continue;
      }
      expect(end, id).toMatchObject({
        kind: 'log',
        span_name: run.completed ? 'RLM run completed' : 'RLM run did not complete',
        level: run.completed ? 'info' : 'warn',
        parent_span_id: spanIdFromRunId(id),
        duration: 0,
        attributes: { run_id: id, steps: run.steps, total_reward: run.total_reward },
      });
    }
    expect(bySpan.get(spanIdFromRunId(demo.failedRunId, 'end'))!.message).toBe(
      'RLM run did not complete',
    );
    for (const s of steps) {
      const record = bySpan.get(spanIdFromRunId(s.run_id as string, s.step as number));
      expect(record, `${s.run_id}#${s.step}`).toBeDefined();
      expect(record!.span_name).toBe('rlm.step');
      expect(record!.parent_span_id).toBe(spanIdFromRunId(s.run_id as string));
      expect((record!.attributes as Record<string, unknown>)['rlm.step']).toBe(s.step);
    }
    const failedStep = records.find((r) => r.span_name === 'rlm.step' && r.is_exception)!;
    expect(failedStep).toMatchObject({ level: 'error', otel_status_code: 'ERROR' });
    expect(failedStep.otel_status_message).toMatch(/^NameError/);
    expect(failedStep.message).toMatch(/^RLM step \d+ failed$/);
    const failedRun = bySpan.get(spanIdFromRunId(demo.failedRunId))!;
    expect(failedRun).toMatchObject({
      span_name: 'rlm.run',
      otel_status_code: 'ERROR',
      otel_status_message: 'Run did not complete',
      message: `rlm.run ${demo.failedRunId}`,
    });
    expect(bySpan.get(spanIdFromRunId(crashedRunId))!.otel_status_code).toBe('UNSET');
    const root = bySpan.get(spanIdFromRunId(demo.runIds[0]!))!;
    expect(root.attributes).toMatchObject({ 'rlm.run_id': demo.runIds[0], 'rlm.completed': true });
    expect(
      (root.attributes as Record<string, number>)['gen_ai.usage.input_tokens'],
    ).toBeGreaterThan(0);
    for (const r of records) expect(r.duration as number).toBeGreaterThanOrEqual(0);
  });

  // Seed 003's example queries, with pydantic-ai's scope and span names replaced by ours.
  it("seed 003's example queries run with only names changed", async () => {
    const byModel = await rows(`
      SELECT span_name, COUNT(*) as runs, AVG(duration) as avg_duration_ms,
          AVG(CAST(attributes->>'gen_ai.usage.input_tokens' AS INT)) as avg_input_tokens,
          AVG(CAST(attributes->>'gen_ai.usage.output_tokens' AS INT)) as avg_output_tokens
      FROM records
      WHERE otel_scope_name = 'rlm-obs' AND span_name = 'rlm.run'
        AND start_timestamp > NOW() - INTERVAL '24 hours'
      GROUP BY span_name`);
    expect(byModel).toHaveLength(1);
    expect(byModel[0]!.runs).toBe((await rows('SELECT * FROM runs')).length);
    expect(byModel[0]!.avg_input_tokens).toBeGreaterThan(0);

    const slowest = await rows(`
      SELECT message, duration, start_timestamp, attributes->>'rlm.action_type' as args
      FROM records WHERE span_name LIKE 'rlm.step%' ORDER BY duration DESC LIMIT 20`);
    expect(slowest.length).toBeGreaterThan(0);
    expect(slowest[0]!.duration as number).toBeGreaterThanOrEqual(
      slowest.at(-1)!.duration as number,
    );

    const errors = await rows(`
      SELECT attributes->>'gen_ai.request.model' as model, COUNT(*) as total,
          SUM(CASE WHEN is_exception THEN 1 ELSE 0 END) as errors,
          ROUND(100.0 * SUM(CASE WHEN is_exception THEN 1 ELSE 0 END) / COUNT(*), 2) as error_pct
      FROM records
      WHERE otel_scope_name = 'rlm-obs' AND start_timestamp > NOW() - INTERVAL '7 days'
      GROUP BY model ORDER BY error_pct DESC`);
    expect(errors.reduce((n, r) => n + (r.errors as number), 0)).toBe(
      (await rows('SELECT * FROM steps WHERE success = false')).length,
    );

    const perHour = await rows(`
      SELECT time_bucket('1 hour', start_timestamp) as ts, COUNT(*) as runs
      FROM records WHERE span_name = 'rlm.run' GROUP BY ts ORDER BY ts`);
    expect(perHour.reduce((n, r) => n + (r.runs as number), 0)).toBe(
      (await rows('SELECT * FROM runs')).length,
    );

    const tools = await rows(`
      SELECT message as tool_name, COUNT(*) as invocations FROM records
      WHERE span_name LIKE 'rlm.step%' AND start_timestamp > NOW() - INTERVAL '24 hours'
      GROUP BY message ORDER BY invocations DESC`);
    expect(tools[0]!.tool_name).toMatch(/^RLM step 1 completed$/);

    const latest = await rows(`
      SELECT trace_id, span_name, duration, attributes->>'gen_ai.request.model' as model,
          attributes->>'gen_ai.usage.input_tokens' as input_tokens,
          attributes->>'gen_ai.usage.output_tokens' as output_tokens
      FROM records WHERE otel_scope_name = 'rlm-obs' ORDER BY start_timestamp DESC LIMIT 100`);
    expect(latest.length).toBeGreaterThan(0);
    for (const r of latest) expect(r.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('runs: session_id, user_id and tags from the start, inherited by nested runs', async () => {
    const byId = new Map(
      (await rows('SELECT run_id, root_run_id, session_id, user_id, tags FROM runs')).map((r) => [
        r.run_id as string,
        r,
      ]),
    );
    expect(byId.get(demo.runIds[0]!)).toMatchObject({
      session_id: 'demo-session-1',
      user_id: 'demo-user',
      tags: ['demo', 'pure_rlm'],
    });
    expect(byId.get(demo.runIds[1]!)).toMatchObject({
      session_id: 'demo-session-2',
      tags: ['demo', 'dspy'],
    });
    for (const id of demo.nestedRunIds) {
      const run = byId.get(id)!;
      const root = byId.get(run.root_run_id as string)!;
      expect(run).toMatchObject({
        session_id: root.session_id,
        user_id: 'demo-user',
        tags: root.tags,
      });
      expect(root.session_id).toMatch(/^demo-session-[12]$/);
    }
    expect(byId.get(remoteRunId)).toMatchObject({ session_id: null, user_id: null, tags: null });
    const [tagged] = await rows("SELECT count(*) AS n FROM runs WHERE list_contains(tags, 'dspy')");
    // The dspy run and its two nested runs (which inherit its tags).
    expect(tagged!.n).toBe(3);
  });

  it('scores: one row per score or feedback; value as text and as a number', async () => {
    const all = await rows('SELECT * FROM scores ORDER BY scored_at, name');
    const store = openJsonlStore(dir);
    let stored = 0;
    for (const summary of await store.listRuns())
      stored += (await store.readRun(summary.runId)).scores.length;
    expect(all).toHaveLength(stored);
    const first = all.filter((r) => r.run_id === demo.runIds[0]);
    expect(
      Object.fromEntries(first.map((r) => [r.name, [r.value, r.value_number, r.kind, r.source]])),
    ).toEqual({
      answer_quality: ['0.9', 0.9, 'score', 'llm-judge'],
      reward: [
        expect.any(String),
        (await store.readRun(demo.runIds[0]!)).summary.totalReward,
        'score',
        'rlm-obs',
      ],
      completed: ['true', 1, 'score', 'rlm-obs'],
      thumbs_up: ['true', 1, 'feedback', 'demo-user'],
    });
    const failed = all.find((r) => r.run_id === demo.failedRunId && r.name === 'completed');
    expect(failed).toMatchObject({ value: 'false', value_number: 0 });
    const verdict = all.find((r) => r.name === 'verdict');
    expect(verdict).toMatchObject({
      run_id: remoteRunId,
      value: 'good enough',
      value_number: null,
      kind: 'feedback',
      comment: 'checked by hand',
      step: 1,
      source: null,
    });
    expect(Number.isNaN(Date.parse(verdict!.scored_at as string))).toBe(false);
    const [avg] = await rows(
      "SELECT avg(value_number) AS v FROM scores WHERE name = 'completed' AND source = 'rlm-obs'",
    );
    const ended = await rows("SELECT completed FROM runs WHERE state = 'ended'");
    expect(avg!.v).toBeCloseTo(ended.filter((r) => r.completed).length / ended.length, 10);
  });

  it('steps: rotated parts of a steps file are read too', async () => {
    const rotated = path.join(tmp.dir, 'rotated');
    const sink = createJsonlSink({ dir: rotated, retention: { maxStepFileBytes: 2000 } });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
    const run = obs.startRun({ runId: 'rotated-run', task: 't', environment: 'e', params: {} });
    for (let i = 1; i <= 40; i++)
      run.step({ action: { action: 'run_python', code: `x = ${i}` }, reward: 1 });
    run.end({ completed: true });
    await obs.shutdown();
    const parts = fs.readdirSync(path.join(rotated, 'steps')).filter((n) => n.includes('~'));
    expect(parts.length).toBeGreaterThanOrEqual(3);
    const engine2 = await QueryEngine.open(rotated);
    try {
      const steps = (await engine2.query('SELECT step, cumulative_reward FROM steps ORDER BY step'))
        .rows;
      expect(steps.map((r) => r.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(steps.at(-1)!.cumulative_reward).toBe(40);
      expect((await engine2.query('SELECT steps, step_count_observed FROM runs')).rows).toEqual([
        { steps: 40, step_count_observed: 40 },
      ]);
    } finally {
      engine2.close();
    }
  });

  it('sees lines written after it opened, and a first step file that appeared later', async () => {
    const other = path.join(tmp.dir, 'later');
    const later = await QueryEngine.open(other);
    try {
      expect(await later.query('SELECT count(*) AS n FROM steps')).toMatchObject({
        rows: [{ n: 0 }],
      });
      const obs = RLMObservability.withSinks([createJsonlSink({ dir: other })], {
        flushOnExit: false,
      });
      const run = obs.startRun({ task: 't', environment: 'e', params: {} });
      run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
      run.end({ completed: true });
      await obs.shutdown();
      expect((await later.query('SELECT count(*) AS n FROM steps')).rows[0]!.n).toBe(1);
      expect((await later.query('SELECT count(*) AS n FROM runs')).rows[0]!.n).toBe(1);
    } finally {
      later.close();
    }
  });

  it("SQL errors are DuckDB's own, with the views' columns", async () => {
    const error = await engine.query('SELECT nope FROM runs').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).message).toContain('Referenced column "nope" not found');
    expect((error as QueryError).hint).toContain('runs(run_id, parent_run_id');
  });
});

describe('query over a Python-written directory', () => {
  it('reads runs.jsonl and steps without starts.jsonl or events', async () => {
    const py = path.join(tmp.dir, 'python');
    fs.mkdirSync(path.join(py, 'steps'), { recursive: true });
    fs.writeFileSync(
      path.join(py, 'runs.jsonl'),
      `${JSON.stringify({
        timestamp: '2026-01-01T00:00:02+00:00',
        run_id: 'py-1',
        started_at: '2026-01-01T00:00:00+00:00',
        finished_at: '2026-01-01T00:00:02+00:00',
        task: 'python task',
        environment: 'pure_rlm',
        params: { max_steps: 2 },
        completed: true,
        steps: 2,
        step_count_observed: 2,
        total_reward: 1.5,
        run_path: '/tmp/x',
      })}\n`,
    );
    fs.writeFileSync(
      path.join(py, 'steps', 'py-1.jsonl'),
      [1, 2]
        .map((step) =>
          JSON.stringify({
            timestamp: `2026-01-01T00:00:0${step}+00:00`,
            run_id: 'py-1',
            step,
            action: 'run_python',
            reward: 0.75,
            cumulative_reward: 0.75 * step,
            success: true,
          }),
        )
        .join('\n')
        .concat('\n{"torn line'),
    );
    const python = await QueryEngine.open(py);
    try {
      expect((await python.query('SELECT * FROM runs')).rows[0]).toMatchObject({
        run_id: 'py-1',
        state: 'ended',
        completed: true,
        duration_ms: 2000,
        total_reward: 1.5,
      });
      const steps = (await python.query('SELECT * FROM steps ORDER BY step')).rows;
      expect(steps.map((s) => [s.step, s.started_at, s.ended_at])).toEqual([
        [1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z'],
        [2, '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z'],
      ]);
      // The run span, its two steps, and its start and end logs.
      expect((await python.query('SELECT count(*) AS n FROM records')).rows[0]!.n).toBe(5);
      // No starts.jsonl, no scores.jsonl: the new columns are NULL and there are no scores.
      expect((await python.query('SELECT session_id, user_id, tags FROM runs')).rows).toEqual([
        { session_id: null, user_id: null, tags: null },
      ]);
      expect((await python.query('SELECT count(*) AS n FROM scores')).rows[0]!.n).toBe(0);
    } finally {
      python.close();
    }
  });
});

describe('rlm-obs query (the binary)', () => {
  it('prints a table, CSV or JSON; --schema lists the views; errors exit 2', async () => {
    const cwd = tmp.dir;
    const sql = 'SELECT environment, count(*) AS runs FROM runs GROUP BY 1 ORDER BY 1';
    const asJson = await rlmObs(['query', sql, '--dir', dir, '--json'], { cwd });
    expect(asJson.code).toBe(0);
    const parsed = JSON.parse(asJson.stdout) as Array<{ environment: string; runs: number }>;
    expect(parsed.map((r) => r.environment)).toEqual([
      ...new Set(parsed.map((r) => r.environment)),
    ]);
    expect(parsed.reduce((n, r) => n + r.runs, 0)).toBe((await rows('SELECT * FROM runs')).length);

    const csv = await rlmObs(['query', sql, '--dir', dir, '-f', 'csv'], { cwd });
    expect(csv.code).toBe(0);
    expect(csv.stdout.trim().split('\n')).toEqual([
      'environment,runs',
      ...parsed.map((r) => `${r.environment},${r.runs}`),
    ]);

    const quoted = await rlmObs(
      ['query', `SELECT 'a,"b"' AS x, '{"k":1}'::JSON AS j`, '--dir', dir, '-f', 'csv'],
      { cwd },
    );
    expect(quoted.stdout.trim().split('\n')[1]).toBe('"a,""b""","{""k"":1}"');

    const asTable = await rlmObs(['query', sql, '--dir', dir], { cwd });
    expect(asTable.stdout).toContain('environment');
    expect(asTable.stdout).toMatch(/\d+ rows?/);

    const schema = await rlmObs(['query', '--schema'], { cwd });
    for (const view of Object.keys(VIEW_DOCS)) expect(schema.stdout).toContain(view);

    const bad = await rlmObs(['query', 'SELECT nope FROM steps', '--dir', dir], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Binder Error');
    expect(bad.stderr).toContain('steps(run_id, step');

    const none = await rlmObs(['query', '--dir', dir], { cwd });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('rlm-obs query --schema');

    const help = await rlmObs(['query', '--help'], { cwd });
    expect(help.stdout).toContain('Examples:');
  }, 60_000);
});
