import * as fs from 'node:fs';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { BAD_RUN_IDS, badPayloads, describeSinkConformance } from '@rlm/obs-core/testing';
import { describe, expect, it } from 'vitest';
import {
  createJsonlSink,
  createJsonlSinkFromEnv,
  LocalJSONLSink,
  openJsonlStore,
  stepFileName,
} from '../src/index.js';
import { listFiles, quiet, readLines, useTempDirs } from './helpers.js';

const dir = useTempDirs();

function agentRun(obs: RLMObservability, runId: string, steps = 3) {
  const run = obs.startRun({
    runId,
    task: 'Build a DSPy signature',
    environment: 'dspy',
    params: { max_steps: 5, model: 'gpt-4.1' },
    runPath: `/runs/${runId}`,
  });
  for (let i = 1; i <= steps; i++) {
    run.step({
      action: {
        action: i === steps ? 'submit' : 'run_python',
        code: `print(${i})`,
        rationale: 'why',
      },
      observation: {
        success: i !== 2,
        output: `out ${i}`,
        ...(i === 2 ? { error: 'NameError: x' } : {}),
      },
      reward: 0.5,
      durationMs: 10 * i,
      usage: { model: 'gpt-4.1', inputTokens: 100, outputTokens: 20 },
    });
  }
  run.end({ finalAnswer: 'answer' });
  return run;
}

describe('local-jsonl: the Python layout and field names', () => {
  it('writes runs.jsonl and steps/<run_id>.jsonl with the Python fields and types', async () => {
    const base = dir();
    const obs = RLMObservability.withSinks([createJsonlSink({ dir: base })], quiet);
    agentRun(obs, 'run-abc', 3);
    await obs.shutdown();
    // scores.jsonl: the end-of-run reward and completed the coordinator sends through onScore.
    expect(listFiles(base)).toEqual([
      'runs.jsonl',
      'scores.jsonl',
      'starts.jsonl',
      path.join('steps', 'run-abc.jsonl'),
    ]);

    const steps = readLines(path.join(base, 'steps', 'run-abc.jsonl'));
    expect(steps).toHaveLength(3);
    expect(Object.keys(steps[0]!).slice(0, 7)).toEqual([
      'timestamp',
      'run_id',
      'step',
      'action',
      'reward',
      'cumulative_reward',
      'success',
    ]);
    expect(steps.map((s) => [s.step, s.action, s.reward, s.cumulative_reward, s.success])).toEqual([
      [1, 'run_python', 0.5, 0.5, true],
      [2, 'run_python', 0.5, 1, false],
      [3, 'submit', 0.5, 1.5, true],
    ]);
    expect(Number.isNaN(Date.parse(steps[0]!.timestamp))).toBe(false);

    const [run] = readLines(path.join(base, 'runs.jsonl'));
    expect(run).toMatchObject({
      run_id: 'run-abc',
      task: 'Build a DSPy signature',
      environment: 'dspy',
      params: { max_steps: 5, model: 'gpt-4.1' },
      completed: true,
      steps: 3,
      step_count_observed: 3,
      total_reward: 1.5,
      run_path: '/runs/run-abc',
    });
    for (const key of ['timestamp', 'started_at', 'finished_at'])
      expect(typeof run![key]).toBe('string');
  });

  it('keeps full fidelity: every hook input can be rebuilt, also for a run that never ended', async () => {
    const base = dir();
    const memory = new (await import('@rlm/obs-core/testing')).MemorySink();
    const obs = RLMObservability.withSinks([createJsonlSink({ dir: base }), memory], quiet);
    const parent = agentRun(obs, 'parent-1', 2);
    const crashed = obs.startRun({
      runId: 'crashed-1',
      task: 'never ends',
      environment: 'e',
      parentRunId: 'parent-1',
      attributes: { team: 'ml' },
    });
    crashed.step({ action: { action: 'run_python', code: 'while True: pass' }, reward: 0 });
    await obs.flush();

    const store = openJsonlStore(base);
    const full = await store.readRun(parent.id);
    const recorded = memory.eventsOf(parent.id);
    expect(full.start).toEqual(recorded[0]!.payload);
    expect(full.steps).toEqual(recorded.filter((e) => e.hook === 'onStep').map((e) => e.payload));
    expect(full.end).toEqual(recorded.at(-1)!.payload);

    const open = await store.readRun('crashed-1');
    expect(open.end).toBeUndefined();
    expect(open.start).toEqual(memory.eventsOf('crashed-1')[0]!.payload);
    expect(open.steps).toHaveLength(1);
    expect(open.summary).toMatchObject({
      state: 'open',
      parentRunId: 'parent-1',
      stepCountObserved: 1,
    });

    const listed = await store.listRuns();
    expect(listed.map((r) => [r.runId, r.state])).toEqual([
      ['parent-1', 'ended'],
      ['crashed-1', 'open'],
    ]);
    await expect(store.readRun('missing')).rejects.toThrow(/no run 'missing'/);
    await obs.shutdown();
  });

  it('reads directories written by the Python rlm-code', async () => {
    const base = dir();
    fs.mkdirSync(path.join(base, 'steps'), { recursive: true });
    const py = (o: unknown) => `${JSON.stringify(o)}\n`;
    fs.writeFileSync(
      path.join(base, 'steps', 'py-run-1.jsonl'),
      py({
        timestamp: '2026-01-02T03:04:05.123456+00:00',
        run_id: 'py-run-1',
        step: 1,
        action: 'run_python',
        reward: 0.5,
        cumulative_reward: 0.5,
        success: true,
      }) +
        py({
          timestamp: '2026-01-02T03:04:06.123456+00:00',
          run_id: 'py-run-1',
          step: 2,
          action: 'submit',
          reward: 1.0,
          cumulative_reward: 1.5,
          success: true,
        }),
    );
    fs.writeFileSync(
      path.join(base, 'steps', 'py-crashed.jsonl'),
      py({
        timestamp: '2026-01-02T03:04:05+00:00',
        run_id: 'py-crashed',
        step: 1,
        action: 'run_python',
        reward: 0,
        cumulative_reward: 0,
        success: false,
      }) + '{"torn li',
    );
    fs.writeFileSync(
      path.join(base, 'runs.jsonl'),
      py({
        timestamp: '2026-01-02T03:04:07+00:00',
        run_id: 'py-run-1',
        started_at: '2026-01-02T03:04:00+00:00',
        finished_at: '2026-01-02T03:04:07+00:00',
        task: 'py task',
        environment: 'pure_rlm',
        params: { max_steps: 4 },
        completed: true,
        steps: 2,
        step_count_observed: 2,
        total_reward: 1.5,
        run_path: '/tmp/py',
      }),
    );
    const store = openJsonlStore(base);
    const runs = await store.listRuns();
    expect(runs.map((r) => [r.runId, r.state, r.totalReward])).toEqual([
      ['py-crashed', 'open', null],
      ['py-run-1', 'ended', 1.5],
    ]);
    const run = await store.readRun('py-run-1');
    expect(run.start).toMatchObject({
      task: 'py task',
      environment: 'pure_rlm',
      params: { max_steps: 4 },
    });
    expect(run.steps).toEqual([
      {
        event: {
          step: 1,
          action: { action: 'run_python' },
          observation: { success: true },
          reward: 0.5,
        },
        cumulativeReward: 0.5,
      },
      {
        event: { step: 2, action: { action: 'submit' }, observation: { success: true }, reward: 1 },
        cumulativeReward: 1.5,
      },
    ]);
    expect(run.end).toEqual({
      result: {
        completed: true,
        steps: 2,
        totalReward: 1.5,
        startedAt: '2026-01-02T03:04:00+00:00',
        finishedAt: '2026-01-02T03:04:07+00:00',
      },
      runPath: '/tmp/py',
    });
    // No starts.jsonl and no scores.jsonl: no session fields, no scores.
    expect(run.scores).toEqual([]);
    expect(run.summary).not.toHaveProperty('sessionId');
    expect(run.summary).not.toHaveProperty('tags');
    const crashed = await store.readRun('py-crashed');
    expect(crashed.malformedLines).toBe(1);
    expect(crashed.steps).toHaveLength(1);
  });
});

describe('local-jsonl: safety', () => {
  it('bad run ids and payloads: no throw, valid JSON everywhere, no file outside the base directory', async () => {
    const root = dir();
    const base = path.join(root, 'base');
    const sink = createJsonlSink({ dir: base });
    const obs = RLMObservability.withSinks([sink], quiet);
    const bad = badPayloads();
    for (const id of BAD_RUN_IDS) {
      expect(() => {
        obs.onRunStart(id as string, { task: 't', environment: 'e', params: {} });
        obs.onStep(id as string, { event: { step: 1 }, cumulativeReward: 0 });
        obs.onRunEnd(id as string, { result: { completed: true } });
        sink.onRunStart(id as string, bad.start[5] as never);
        sink.onStep(id as string, bad.step[7] as never);
        sink.onRunEnd(id as string, bad.end[6] as never);
      }).not.toThrow();
    }
    for (const p of bad.step) expect(() => obs.onStep('ok', p as never)).not.toThrow();
    await obs.shutdown();
    for (const file of listFiles(root)) {
      expect(file.startsWith(`base${path.sep}`), file).toBe(true);
      readLines(path.join(root, file));
    }
    expect(stepFileName('../../x')).not.toContain('/');
    expect(stepFileName('')).toMatch(/^[0-9a-f]{16}\.h\.jsonl$/);
    expect(stepFileName('a'.repeat(10_000)).length).toBeLessThan(100);
    expect(stepFileName('run/1')).not.toBe(stepFileName('run_1'));
  });

  it('secrets in params, attributes and URLs never reach the files, the status or warnings', async () => {
    const base = dir();
    const warnings: string[] = [];
    const obs = RLMObservability.withSinks([createJsonlSink({ dir: base })], {
      flushOnExit: false,
      logger: { warn: (m) => warnings.push(m) },
    });
    const run = obs.startRun({
      runId: 'secret-run',
      task: 'fetch https://user:TopSecret99@example.com/data?token=tok-abc-123',
      params: { openai_api_key: 'sk-proj-SECRETSECRET', db: { password: 'pw-hunter2' } },
      attributes: { authorization: 'Basic dXNlcjpwYXNzd29yZA==' },
    });
    run.step({
      action: {
        action: 'http',
        code: 'requests.get(url, headers={"Authorization": "Bearer ghp_TOKEN0123456789"})',
      },
      observation: { success: false, error: 'denied for https://user:TopSecret99@example.com' },
    });
    run.end();
    obs.onStep(42 as never, { event: { api_key: 'sk-proj-SECRETSECRET' }, cumulativeReward: 0 });
    await obs.shutdown();
    const everything =
      listFiles(base)
        .map((f) => fs.readFileSync(path.join(base, f), 'utf8'))
        .join('\n') +
      JSON.stringify(obs.status()) +
      warnings.join('\n');
    for (const secret of [
      'TopSecret99',
      'tok-abc-123',
      'sk-proj-SECRETSECRET',
      'pw-hunter2',
      'dXNlcjpwYXNzd29yZA',
      'ghp_TOKEN0123456789',
    ]) {
      expect(everything).not.toContain(secret);
    }
    expect(everything).toContain('[REDACTED]');
  });

  it('5,000 interleaved concurrent runs: no EMFILE, bounded open files, valid lines, exact counts', async () => {
    const base = dir();
    const sink = createJsonlSink({ dir: base, maxOpenFiles: 32 });
    const obs = RLMObservability.withSinks([sink], quiet);
    const runs = Array.from({ length: 5000 }, (_, i) =>
      obs.startRun({ runId: `c-${i}`, task: `t${i}` }),
    );
    let maxOpen = 0;
    for (let s = 1; s <= 4; s++) {
      for (const run of runs)
        run.step({
          action: { action: 'a' },
          observation: { success: true, output: 'o'.repeat(s * 10) },
          reward: 1,
        });
      await new Promise((resolve) => setImmediate(resolve));
      maxOpen = Math.max(maxOpen, sink.status().open_files as number);
    }
    for (const run of runs) run.end();
    const report = await obs.shutdown({ timeoutMs: 60_000 });
    expect(report.ok).toBe(true);
    expect(maxOpen).toBeLessThanOrEqual(32);
    const status = sink.status();
    // start, 4 steps, end, and the 2 end-of-run scores (reward, completed) per run.
    expect(status).toMatchObject({
      lines_written: 5000 * 8,
      lines_failed: 0,
      lines_dropped: 0,
      backlog: 0,
      open_files: 0,
    });
    expect(readLines(path.join(base, 'runs.jsonl'))).toHaveLength(5000);
    expect(readLines(path.join(base, 'starts.jsonl'))).toHaveLength(5000);
    expect(readLines(path.join(base, 'scores.jsonl'))).toHaveLength(10000);
    const stepFiles = fs.readdirSync(path.join(base, 'steps'));
    expect(stepFiles).toHaveLength(5000);
    for (const name of stepFiles.slice(0, 200)) {
      expect(readLines(path.join(base, 'steps', name)).map((l) => l.step)).toEqual([1, 2, 3, 4]);
    }
  });

  it('long lines and big batches are split only between whole lines', async () => {
    const base = dir();
    const sink = new LocalJSONLSink({ dir: base });
    for (let i = 1; i <= 300; i++)
      sink.onStep('big', { event: { step: i, output: 'x'.repeat(i * 997) }, cumulativeReward: i });
    sink.onStep('big', {
      event: { step: 301, output: 'é'.repeat(3_000_000) },
      cumulativeReward: 0,
    });
    await sink.shutdown();
    const lines = readLines(path.join(base, 'steps', 'big.jsonl'));
    expect(lines.map((l) => l.step)).toEqual(Array.from({ length: 301 }, (_, i) => i + 1));
    expect(lines[300]!.event.output).toHaveLength(3_000_000);
  });

  it('is disabled by DSPY_RLM_OBS_ENABLED=false or DSPY_RLM_OBS_LOCAL_JSONL=false and then writes nothing', async () => {
    const base = dir();
    for (const env of [{ DSPY_RLM_OBS_ENABLED: 'false' }, { DSPY_RLM_OBS_LOCAL_JSONL: '0' }]) {
      const sink = createJsonlSinkFromEnv({ ...env, RLM_OBS_JSONL_DIR: path.join(base, 'off') });
      sink.onRunStart('r', { task: 't', environment: 'e', params: {} });
      await sink.shutdown();
      expect(sink.status()).toMatchObject({ name: 'local-jsonl', enabled: false });
    }
    expect(fs.existsSync(path.join(base, 'off'))).toBe(false);
    const on = createJsonlSinkFromEnv({
      DSPY_RLM_OBS_LOCAL_JSONL: 'true',
      RLM_OBS_JSONL_DIR: path.join(base, 'on'),
    });
    expect(on.status()).toMatchObject({
      enabled: true,
      available: true,
      detail: path.join(base, 'on'),
    });
    expect(new LocalJSONLSink().dir).toBe(path.resolve('.rlm_code/rlm/observability'));
    await on.shutdown();
    fs.rmSync(path.resolve('.rlm_code'), { recursive: true, force: true });
  });

  it('reports an unusable directory in its status instead of throwing', () => {
    const base = dir();
    fs.writeFileSync(path.join(base, 'file'), 'x');
    const sink = createJsonlSink({ dir: path.join(base, 'file', 'sub') });
    expect(sink.status()).toMatchObject({ available: false });
    expect(sink.status().detail).toMatch(/^unavailable: /);
    expect(() => sink.onStep('r', { event: {}, cumulativeReward: 0 })).not.toThrow();
  });
});

describeSinkConformance(() => createJsonlSink({ dir: dir() }), {
  title: 'local-jsonl conformance',
  readBack: async (sink, runId) => {
    const run = await openJsonlStore(sink.dir).readRun(runId);
    return { steps: run.steps.map((s) => s.event.step as number), ended: run.end !== undefined };
  },
});
