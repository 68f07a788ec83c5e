import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { context, createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { RLMObservability } from '@rlm/obs-core';
import { closedPort, describeSinkConformance } from '@rlm/obs-core/testing';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  createLangSmithSinkFromEnv,
  createSink,
  LangSmithSink,
  langsmithRunId,
} from '../src/index.js';
import { type LangSmithReceiver, startLangSmithReceiver } from './langsmith-receiver.js';

async function recordRun(receiver: LangSmithReceiver, runId = 'ls-run-0001') {
  const sink = await createSink({
    apiKey: receiver.apiKey,
    apiUrl: receiver.url,
    projectName: 'rlm-tests',
  });
  const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
  const run = obs.startRun({
    runId,
    task: 'Build a signature',
    environment: 'dspy',
    params: { max_steps: 3 },
  });
  run.step({
    action: { action: 'run_python', code: `print(1)${'#'.repeat(600)}` },
    observation: { success: true, output: 'ok' },
    reward: 0.5,
    usage: { model: 'gpt-4.1-mini', provider: 'openai', inputTokens: 100, outputTokens: 20 },
  });
  run.step({
    action: { action: 'run_python', code: 'x' },
    observation: { success: false, error: 'NameError: x' },
    reward: -0.1,
  });
  const child = run.child({ runId: `${runId}-child`, task: 'nested', environment: 'dspy' });
  child.step({ action: { action: 'submit' }, observation: { success: true }, reward: 1 });
  child.end({ finalAnswer: 'n' });
  run.end({ finalAnswer: 'answer' });
  const report = await obs.shutdown({ timeoutMs: 30_000 });
  return { sink, report, run, child };
}

function checkTree(receiver: LangSmithReceiver, runId: string, startMs: number) {
  const rootId = langsmithRunId(runId, startMs);
  const runs = [...receiver.runs.values()];
  const root = receiver.runs.get(rootId)!;
  expect(root).toMatchObject({
    name: `rlm-run-${runId.slice(0, 8)}`,
    run_type: 'chain',
    session_name: 'rlm-tests',
  });
  expect(root.inputs).toEqual({
    task: 'Build a signature',
    environment: 'dspy',
    params: { max_steps: 3 },
  });
  expect(root.extra?.metadata).toMatchObject({ run_id: runId, environment: 'dspy' });
  expect(root.outputs).toEqual({
    completed: true,
    steps: 2,
    total_reward: 0.4,
    final_answer: 'answer',
  });
  expect(root.end_time).toBeDefined();
  const children = runs.filter((r) => r.parent_run_id === rootId);
  const steps = children
    .filter((r) => r.run_type === 'tool')
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  expect(steps.map((s) => s.name)).toEqual(['step-1', 'step-2']);
  expect(steps[0]!.id).toBe(langsmithRunId(runId, startMs, 1));
  expect(String(steps[0]!.inputs?.code).indexOf('…')).toBe(500);
  expect(steps[0]!.outputs).toEqual({
    success: true,
    reward: 0.5,
    cumulative_reward: 0.5,
    output: 'ok',
  });
  expect(steps[0]!.error).toBeUndefined();
  expect(steps[1]!.error).toBe('NameError: x');
  const llm = runs.find((r) => r.parent_run_id === steps[0]!.id)!;
  expect(llm).toMatchObject({ run_type: 'llm', name: 'gpt-4.1-mini' });
  expect(llm.extra?.metadata).toMatchObject({
    ls_model_name: 'gpt-4.1-mini',
    ls_provider: 'openai',
    usage_metadata: { input_tokens: 100, output_tokens: 20, total_tokens: 120 },
  });
  const nested = children.find((r) => r.run_type === 'chain')!;
  expect(nested.extra?.metadata).toMatchObject({ run_id: `${runId}-child` });
  expect(runs.find((r) => r.parent_run_id === nested.id)!.name).toBe('step-1');
  expect(new Set(runs.map((r) => r.trace_id))).toEqual(new Set([rootId]));
}

/** A route without its run id. */
function endpoint(route: string): string {
  return route.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, '{id}');
}

describe('langsmith sink', () => {
  // The step runs' transport: the JSON /runs/batch, or (where it answers 404) the client's
  // multipart path. The root runs are direct requests either way.
  for (const transport of ['json batch', 'multipart'] as const) {
    it(`sends the exact run tree of a run with a failing step and a nested run (${transport})`, async () => {
      const receiver = await startLangSmithReceiver();
      receiver.multipartOnly = transport !== 'json batch';
      try {
        const { sink, report, run } = await recordRun(receiver);
        expect(report.ok).toBe(true);
        expect(sink.status()).toEqual({
          name: 'langsmith',
          enabled: true,
          available: true,
          detail: `${receiver.url} project: rlm-tests`,
          project: 'rlm-tests',
          project_name: 'rlm-tests',
          requests: expect.any(Number),
          failed_requests: 0,
          runs_sent: 4, // three step runs and an LLM run
          runs_queued: 0,
          runs_dropped: 0,
          evicted_runs: 0,
          open_runs: 0,
        });
        // Plain bodies only, and never a question to /info (its batch_ingest_config and
        // instance_flags are not read): the endpoints are the ones below.
        expect(receiver.encodings).toEqual([]);
        expect(
          new Set(receiver.routes.filter((r) => !r.startsWith('created ')).map(endpoint)),
        ).toEqual(
          new Set([
            'GET /sessions', // the connection check, and the project's id for feedback
            'POST /sessions', // the project made (upsert) if the runs have not made it yet
            'POST /runs',
            'PATCH /runs/{id}',
            'POST /runs/batch',
            'POST /feedback', // the end-of-run scores
            ...(transport === 'json batch' ? [] : ['POST /runs/multipart']),
          ]),
        );
        expect(receiver.routes).toContain(
          transport === 'json batch' ? 'POST /runs/batch' : 'POST /runs/multipart',
        );
        // Root runs: a create each (the run and its nested run) and a patch of each end.
        const rootId = langsmithRunId(run.id, Date.parse(run.startedAt));
        expect(receiver.routes.filter((r) => r === 'POST /runs')).toHaveLength(2);
        expect(receiver.routes.filter((r) => r.startsWith('PATCH /runs/'))).toHaveLength(2);
        expect(receiver.routes).toContain(`PATCH /runs/${rootId}`);
        checkTree(receiver, run.id, Date.parse(run.startedAt));
        expect(sink.stats().failed_requests).toBe(0);
      } finally {
        await receiver.close();
      }
    });
  }

  it("a LangSmith without the JSON /runs/batch: step runs go through the client's multipart path", async () => {
    const receiver = await startLangSmithReceiver();
    receiver.multipartOnly = true;
    try {
      const { sink, report, run } = await recordRun(receiver);
      expect(report.ok).toBe(true);
      // One try at /runs/batch (404), then multipart for every later upload.
      expect(receiver.routes.filter((r) => r === 'POST /runs/batch')).toHaveLength(1);
      expect(receiver.routes).toContain('POST /runs/multipart');
      checkTree(receiver, run.id, Date.parse(run.startedAt));
      expect(sink.stats()).toMatchObject({ failed_requests: 0, runs_dropped: 0, runs_queued: 0 });
    } finally {
      await receiver.close();
    }
  });

  it('step runs waiting for a hung LangSmith stay under the memory bound: the rest dropped, counted, reported', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({
        apiKey: receiver.apiKey,
        apiUrl: receiver.url,
        timeoutMs: 300,
        maxRetries: 0,
        maxQueuedBytes: 256 * 1024,
      });
      receiver.mode = 'hang';
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ task: 'bounded' });
      for (let i = 0; i < 2_000; i++)
        run.step({
          action: { action: 'a', code: 'x'.repeat(200) },
          observation: { success: true },
          reward: 1,
        });
      run.end();
      // Every step reached the sink (the caller was not refused) …
      expect(obs.status()[0]!.counters).toMatchObject({ delivered: 2_004, dropped: 0 });
      await new Promise((resolve) => setImmediate(resolve));
      const stats = sink.stats();
      // … and what waits for upload fits the bound (~2.9 KB of heap per step run here).
      expect(stats.runs_queued).toBeLessThanOrEqual(Math.ceil((256 * 1024) / 2900));
      expect(stats.runs_dropped).toBeGreaterThan(1_800);
      const report = await obs.flush({ timeoutMs: 20_000 });
      expect(report.sinks[0]!.ok).toBe(false);
      expect(report.sinks[0]!.error).toMatch(/step runs dropped/);
      await obs.shutdown({ timeoutMs: 5_000 });
    } finally {
      await receiver.close();
    }
  }, 30_000);

  it("a run's end is patched only after its create was answered (the requests go out directly)", async () => {
    const receiver = await startLangSmithReceiver();
    receiver.createDelayMs = 300;
    try {
      const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({ task: 'short' });
      run.step({ observation: { success: true }, reward: 1 });
      run.end();
      expect((await obs.shutdown({ timeoutMs: 10_000 })).ok).toBe(true);
      const rootId = langsmithRunId(run.id, Date.parse(run.startedAt));
      const created = receiver.routes.indexOf(`created ${rootId}`);
      expect(created).toBeGreaterThan(-1);
      expect(receiver.routes.indexOf(`PATCH /runs/${rootId}`)).toBeGreaterThan(created);
      expect(receiver.runs.get(rootId)).toMatchObject({ outputs: { completed: true } });
    } finally {
      await receiver.close();
    }
  });

  it('runs that never end stay under maxOpenRuns: the oldest is ended as evicted, counted', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({
        apiKey: receiver.apiKey,
        apiUrl: receiver.url,
        maxOpenRuns: 1,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const first = obs.startRun({ task: 'never ends' });
      first.step({ observation: { success: true }, reward: 1 });
      const second = obs.startRun({ task: 'ends' }); // evicts the first run
      first.step({ observation: { success: true }, reward: 1 }); // ignored: no longer open
      second.step({ observation: { success: true }, reward: 0.5 });
      second.end();
      first.end(); // ignored as well
      expect((await obs.shutdown({ timeoutMs: 10_000 })).ok).toBe(true);
      expect(sink.stats()).toMatchObject({ evicted_runs: 1, open_runs: 0, failed_requests: 0 });
      const firstId = langsmithRunId(first.id, Date.parse(first.startedAt));
      const evicted = receiver.runs.get(firstId)!;
      expect(evicted.error).toBe('evicted: more than 1 runs were open at once');
      expect(evicted.outputs).toEqual({ completed: false });
      expect(evicted.extra?.metadata).toMatchObject({ 'rlm.evicted': true, run_id: first.id });
      expect(evicted.end_time).toBeDefined();
      const steps = (id: string) =>
        [...receiver.runs.values()].filter((r) => r.parent_run_id === id).map((r) => r.name);
      expect(steps(firstId)).toEqual(['step-1']);
      const secondId = langsmithRunId(second.id, Date.parse(second.startedAt));
      expect(receiver.runs.get(secondId)).toMatchObject({ outputs: { completed: true } });
      expect(receiver.runs.get(secondId)!.error).toBeUndefined();
      expect(steps(secondId)).toEqual(['step-1']);
    } finally {
      await receiver.close();
    }
  });

  it('step runs that come one every few milliseconds go up in a few uploads, not one each', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({ task: 'slow agent' });
      const started = performance.now();
      for (let i = 0; i < 100; i++) {
        run.step({ observation: { success: true }, reward: 1 });
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const elapsedMs = performance.now() - started;
      run.end();
      expect((await obs.flush()).ok).toBe(true);
      // Runs wait up to 100 ms for more before an upload (a fast LangSmith answered each
      // upload of one run before the next step came, so it was an upload per step before).
      const uploads = receiver.routes.filter((r) => r === 'POST /runs/batch').length;
      expect(uploads).toBeLessThanOrEqual(Math.ceil(elapsedMs / 100) + 3);
      expect(Math.ceil(elapsedMs / 100) + 3).toBeLessThan(50);
      expect(sink.stats()).toMatchObject({ runs_sent: 100, runs_queued: 0, runs_dropped: 0 });
      await obs.shutdown();
    } finally {
      await receiver.close();
    }
  });

  it('a replay of the run reuses its ids (no duplicates)', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      for (let i = 0; i < 2; i++) {
        const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
        obs.onRunStart('replayed', {
          task: 't',
          environment: 'e',
          params: {},
          startedAt: '2026-11-21T10:00:00.000Z',
        });
        obs.onStep('replayed', {
          event: { step: 1, observation: { success: true } },
          cumulativeReward: 0,
        });
        obs.onRunEnd('replayed', {
          result: { completed: true, finishedAt: '2026-11-21T10:00:01.000Z' },
        });
        await obs.shutdown();
      }
      expect(receiver.runs.size).toBe(2);
    } finally {
      await receiver.close();
    }
  });

  it('ids, start times and dotted orders stay what earlier versions sent (replays and other processes rely on them)', async () => {
    // Pinned from the first release: a change here would make replays duplicate runs.
    expect(langsmithRunId('ls-run-0001', 1763772661478)).toBe(
      '019aa90a-fee6-7f32-bbcd-111fac8e2220',
    );
    expect(langsmithRunId('ls-run-0001', 1763772661478, 1)).toBe(
      '019aa90a-fee6-7b64-9512-05896b1b1707',
    );
    expect(langsmithRunId('ls-run-0001', 1763772661478, '3:llm:0')).toBe(
      '019aa90a-fee6-77fb-9d34-be757494b803',
    );
    expect(langsmithRunId('a\ud800b', 0)).toBe('00000000-0000-7b1e-82a9-a6a1fb53724c');
    expect(langsmithRunId('ü-🙂', 2 ** 48 + 5, 7)).toBe('00000000-0005-7f78-a1d8-60124e13df49');
    expect(langsmithRunId('x', 1763772661478.9, 2)).toBe('019aa90a-fee6-757e-8d1c-ca6983855396');
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      obs.onRunStart('pinned', {
        task: 't',
        environment: 'e',
        params: {},
        startedAt: '2026-11-22T00:51:01.000Z',
      });
      const usage = { model: 'gpt-4.1-mini', inputTokens: 1, outputTokens: 1 };
      for (const [step, startedAt] of [
        [1, '2026-11-22T00:51:01.478Z'],
        [2, '2026-11-22T00:51:01.478Z'],
        [3, '2026-11-22T23:59:59.999Z'],
      ] as const) {
        obs.onStep('pinned', {
          event: {
            step,
            startedAt,
            durationMs: 1,
            observation: { success: true },
            usage,
            // a key `__proto__` stays data (JSON.parse makes it an own property)
            attributes: JSON.parse(`{"team":"ml","__proto__":{"polluted":${step}}}`),
          },
          cumulativeReward: 0,
        });
      }
      obs.onRunEnd('pinned', { result: { completed: true } });
      await obs.shutdown();
      const startMs = Date.parse('2026-11-22T00:51:01.000Z');
      const root = receiver.runs.get(langsmithRunId('pinned', startMs))!;
      const expected = [
        [
          1,
          '2026-11-22T00:51:01.478002Z',
          '20261122T005101478002Z',
          '478001',
          '20261122T005101478001Z',
        ],
        [
          2,
          '2026-11-22T00:51:01.478003Z',
          '20261122T005101478003Z',
          '478001',
          '20261122T005101478001Z',
        ],
        [
          3,
          '2026-11-22T23:59:59.999004Z',
          '20261122T235959999004Z',
          '999001',
          '20261122T235959999001Z',
        ],
      ] as const;
      for (const [step, start, stamp, llmMicros, llmStamp] of expected) {
        const id = langsmithRunId('pinned', startMs, step);
        const run = receiver.runs.get(id)!;
        expect(run.start_time).toBe(start);
        expect(run.dotted_order).toBe(`${root.dotted_order}.${stamp}${id}`);
        const llmId = langsmithRunId('pinned', startMs, `${step}:llm:0`);
        const llm = receiver.runs.get(llmId)!;
        expect(llm.start_time).toBe(`${start.slice(0, 20)}${llmMicros}Z`);
        expect(llm.dotted_order).toBe(`${run.dotted_order}.${llmStamp}${llmId}`);
        // the step's metadata: the run's, then the step's attributes; the LLM run's adds its own
        const metadata = run.extra?.metadata as Record<string, unknown>;
        expect(metadata).toMatchObject({ run_id: 'pinned', environment: 'e', team: 'ml' });
        expect(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value).toEqual({
          polluted: step,
        });
        const llmMetadata = llm.extra?.metadata as Record<string, unknown>;
        expect(llmMetadata).toMatchObject({
          run_id: 'pinned',
          team: 'ml',
          ls_model_name: 'gpt-4.1-mini',
          usage_metadata: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
        });
        const keys = Object.keys(llmMetadata);
        expect(keys.at(-1)).toBe('usage_metadata');
        expect(keys.indexOf('ls_model_name')).toBeGreaterThan(keys.indexOf('team'));
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    } finally {
      await receiver.close();
    }
  });

  it('a refused key or an unreachable LangSmith gives available: false without the key', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const refused = await createSink({
        apiKey: 'lsv2_WRONG_key_value',
        apiUrl: receiver.url,
        authCooldown: { now: () => 1_800_000_000_000, random: () => 0.5 },
      });
      // The refusal also starts the auth pause: nothing is sent for a minute.
      expect(refused.status()).toMatchObject({
        available: false,
        detail: `unavailable: the API key was refused by ${receiver.url}; auth failed (HTTP 401): paused for 60s, 0 events skipped; check the credentials`,
        authFailures: 1,
      });
      expect(JSON.stringify(refused.status())).not.toContain('WRONG');
      expect((await refused.check()).problems[0]!.fix).toContain('LANGSMITH_API_KEY');
      const down = await createSink({
        apiKey: 'k',
        apiUrl: `http://127.0.0.1:${await closedPort()}`,
        maxRetries: 0,
      });
      expect(down.status().detail).toMatch(/^unavailable: cannot reach http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      await receiver.close();
    }
  });

  it('unreachable at setup: said at once (one attempt), and available once LangSmith takes a write', async () => {
    const port = await closedPort();
    const apiUrl = `http://127.0.0.1:${port}`;
    const sink = await createSink({ apiKey: 'lsv2_test_key', apiUrl });
    expect(sink.status()).toMatchObject({ available: false });
    expect(sink.status().detail).toMatch(/^unavailable: cannot reach http:\/\/127\.0\.0\.1:\d+: /);
    // The check made one request: the client's retries (seconds of backoff) are not waited out.
    expect(sink.stats().requests).toBe(1);
    const receiver = await startLangSmithReceiver('lsv2_test_key', port);
    try {
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({ task: 'back' });
      run.step({ observation: { success: true }, reward: 1 });
      run.end();
      expect((await obs.shutdown({ timeoutMs: 10_000 })).ok).toBe(true);
      expect(sink.status()).toMatchObject({
        available: true,
        detail: `${apiUrl} project: rlm-code`,
      });
    } finally {
      await receiver.close();
    }
  });

  it('reads the seed variables', () => {
    expect(createLangSmithSinkFromEnv({}).status()).toEqual({
      name: 'langsmith',
      enabled: false,
      available: false,
      detail: 'disabled',
      project: 'rlm-code',
      project_name: 'rlm-code',
      requests: 0,
      failed_requests: 0,
      runs_sent: 0,
      runs_queued: 0,
      runs_dropped: 0,
      evicted_runs: 0,
      open_runs: 0,
    });
    const on = createLangSmithSinkFromEnv(
      {
        DSPY_RLM_LANGSMITH_ENABLED: 'true',
        LANGCHAIN_API_KEY: 'k',
        LANGCHAIN_PROJECT: 'p',
        LANGSMITH_ENDPOINT: 'http://127.0.0.1:1/',
      },
      { connectionCheck: false },
    );
    expect(on.status()).toMatchObject({
      enabled: true,
      available: true,
      project: 'p',
      project_name: 'p',
      detail: 'http://127.0.0.1:1 project: p',
    });
    const smith = createLangSmithSinkFromEnv(
      { DSPY_RLM_LANGSMITH_ENABLED: 'true', LANGSMITH_API_KEY: 'k2', LANGSMITH_PROJECT: 'q' },
      { connectionCheck: false },
    );
    expect(smith.status().project_name).toBe('q');
    expect(createLangSmithSinkFromEnv({ DSPY_RLM_LANGSMITH_ENABLED: 'true' }).status().detail).toBe(
      'unavailable: set LANGSMITH_API_KEY (or LANGCHAIN_API_KEY)',
    );
  });
});

describe('cross-process runs', () => {
  it("a run in another process joins the parent's trace through LangSmith's headers", async () => {
    const receiver = await startLangSmithReceiver();
    try {
      // Process A: the parent run; its headers travel with the sub-task.
      const parentSink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
      const a = RLMObservability.withSinks([parentSink], { flushOnExit: false });
      const parent = a.startRun({ runId: 'xp-parent', task: 'delegate' });
      const headers = parentSink.headers('xp-parent')!;
      expect(headers['langsmith-trace']).toBeDefined();
      // Process B: a separate sink and coordinator.
      const childSink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
      const b = RLMObservability.withSinks([childSink], { flushOnExit: false });
      const remote = b.startRun({
        runId: 'xp-remote',
        task: 'remote part',
        parentRunId: parent.id,
        traceparent: parent.traceparent(),
        attributes: { 'langsmith.headers': headers },
      });
      remote.step({ observation: { success: true }, reward: 1 });
      remote.end();
      await b.shutdown();
      parent.end();
      await a.shutdown();
      const runs = [...receiver.runs.values()];
      // The chain runs (step runs inherit their run's metadata).
      const chain = (id: string) =>
        runs.find((r) => r.extra?.metadata?.run_id === id && r.run_type === 'chain')!;
      const root = chain('xp-parent');
      const child = chain('xp-remote');
      expect(child.parent_run_id).toBe(root.id);
      expect(child.trace_id).toBe(root.id);
      expect(String(child.dotted_order).startsWith(String(root.dotted_order))).toBe(true);
    } finally {
      await receiver.close();
    }
  });
});

describe('a LangSmith that refuses, throttles, fails or hangs', () => {
  it('connections cut on every upload: each failed request counted once', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({
        apiKey: receiver.apiKey,
        apiUrl: receiver.url,
        projectName: 'rlm-cut',
        maxRetries: 0,
      });
      receiver.mode = 'reset';
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ task: 'cut' });
      run.step({ observation: { success: true }, reward: 1 });
      run.end();
      const report = await obs.shutdown({ timeoutMs: 10_000 });
      expect(report.sinks[0]!.ok).toBe(false);
      // Until the client's own retries are over: no request for a second.
      let seen = -1;
      while (seen !== receiver.routes.length) {
        seen = receiver.routes.length;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      const cut = receiver.routes.filter(
        (r) => r !== 'GET /info' && !r.endsWith(' /sessions'),
      ).length;
      expect(cut).toBeGreaterThan(0);
      expect(sink.stats().failed_requests).toBe(cut);
    } finally {
      await receiver.close();
    }
  }, 30_000);

  it('nothing listening: runs, steps and scores fail and are counted; nothing on the console', async () => {
    // The client warned on the console when its server-info request found no LangSmith, and
    // feedback without the project id (which cannot be read then) made it warn once more.
    const consoleCalls = ['error', 'warn', 'log'].map((m) =>
      vi.spyOn(console, m as 'error').mockImplementation(() => undefined),
    );
    try {
      const sink = await createSink({
        apiKey: 'lsv2_unreachable_key',
        apiUrl: `http://127.0.0.1:${await closedPort()}`,
        maxRetries: 0,
        connectionCheck: false,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ task: 'nobody there' });
      for (let i = 0; i < 3; i++) run.step({ observation: { success: true }, reward: 1 });
      run.score('quality', 0.8);
      run.end();
      const report = await obs.shutdown({ timeoutMs: 10_000 });
      expect(report.sinks[0]!.ok).toBe(false);
      // maxRetries: 0 holds for the direct requests too (the client retried those 4 times,
      // with backoff, whatever its options said): nothing left to wait for.
      expect(report.sinks[0]!.deadlineExceeded).toBe(false);
      // Until the client's own background requests are over.
      let seen = -1;
      while (seen !== sink.stats().requests) {
        seen = sink.stats().requests;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const stats = sink.stats();
      expect(stats.failed_requests).toBe(stats.requests);
      expect(stats.requests).toBeGreaterThan(0);
      expect(stats.last_error).toBeDefined();
      expect(consoleCalls.flatMap((spy) => spy.mock.calls)).toEqual([]);
    } finally {
      for (const spy of consoleCalls) spy.mockRestore();
    }
  }, 30_000);

  it("nothing listening: the retries' backoff does not keep a finished process alive", async () => {
    // Default retries (3, backing off 1 s doubling): the client's own timers held such a
    // process ~21 s after its work, before the exit flush could even start; now the flush
    // starts at once and the process ends at its deadline (5 s): the flush settles by it.
    const port = await closedPort();
    const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    // Beside this file, so that the script resolves @rlm/obs-core as the package does.
    const script = fileURLToPath(new URL(`./.exit-${process.pid}.mjs`, import.meta.url));
    fs.writeFileSync(
      script,
      `import { RLMObservability } from '@rlm/obs-core';
      import { createSink } from ${JSON.stringify(index)};
      const sink = await createSink({ apiKey: 'lsv2_unreachable_key', apiUrl: 'http://127.0.0.1:${port}' });
      const obs = RLMObservability.withSinks([sink], { logger: false });
      const run = obs.startRun({ task: 'nobody there' });
      run.step({ observation: { success: true }, reward: 1 });
      run.end();
      // Fires only if something still holds the process 12 s on.
      setTimeout(() => console.log('still alive'), 12_000).unref();`,
    );
    try {
      const result = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 90_000 });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toBe('');
    } finally {
      fs.rmSync(script, { force: true });
    }
  }, 100_000);

  for (const mode of ['401', '429', '503', 'hang'] as const) {
    it(`${mode}: counted, the caller unaffected, memory bounded, nothing on the console`, async () => {
      const receiver = await startLangSmithReceiver();
      // The SDK's own console output (its auto-batch queue logged each failed batch with
      // every run id in it): failures are the sink's to count and report.
      const consoleCalls = ['error', 'warn', 'log'].map((m) =>
        vi.spyOn(console, m as 'error').mockImplementation(() => undefined),
      );
      try {
        const sink = await createSink({
          apiKey: receiver.apiKey,
          apiUrl: receiver.url,
          timeoutMs: 500,
          maxRetries: 1,
          maxIngestMemoryBytes: 4 * 1024 * 1024,
        });
        receiver.mode = mode;
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        const before = process.memoryUsage().heapUsed;
        const run = obs.startRun({ task: 'outage' });
        for (let i = 0; i < 2_000; i++)
          run.step({
            action: { action: 'a', code: 'x'.repeat(200) },
            observation: { success: true },
            reward: 1,
          });
        run.end();
        expect(obs.status()[0]!.counters).toMatchObject({
          delivered: 2_004, // 2000 steps, start, end and the end-of-run scores reward, completed
          failed: 0,
          pending: 0,
        });
        const report = await obs.shutdown({ timeoutMs: 30_000 });
        expect(report.sinks[0]!.ok).toBe(false);
        expect(sink.stats().failed_requests).toBeGreaterThan(0);
        expect(process.memoryUsage().heapUsed - before).toBeLessThan(96 * 1024 * 1024);
        expect(consoleCalls.flatMap((spy) => spy.mock.calls)).toEqual([]);
      } finally {
        for (const spy of consoleCalls) spy.mockRestore();
        await receiver.close();
      }
    }, 60_000);
  }
});

const conformanceReceiver = await startLangSmithReceiver('lsv2_conformance_secret');
afterAll(() => conformanceReceiver.close());
describeSinkConformance(
  () =>
    new LangSmithSink({
      apiKey: 'lsv2_conformance_secret',
      apiUrl: conformanceReceiver.url,
      connectionCheck: false,
    }),
  {
    title: 'langsmith conformance',
    secrets: ['lsv2_conformance_secret'],
    readBack: async (sink, runId) => {
      await sink.forceFlush();
      const runs = [...conformanceReceiver.runs.values()];
      const root = runs.find((r) => r.extra?.metadata?.run_id === runId && r.run_type === 'chain');
      const steps = runs.filter(
        (r) => root && r.parent_run_id === root.id && r.run_type === 'tool',
      );
      return {
        steps: steps.map((s) => Number(String(s.name).slice(5))).sort((a, b) => a - b),
        ended: Boolean(root?.end_time),
      };
    },
  },
);

describe('scores, feedback, sessions, users and tags', () => {
  for (const transport of ['multipart', 'json batch'] as const) {
    it(`scores and feedback arrive as LangSmith feedback on the run and step ids (${transport})`, async () => {
      const receiver = await startLangSmithReceiver();
      receiver.multipartOnly = transport === 'multipart';
      try {
        const sink = await createSink({
          apiKey: receiver.apiKey,
          apiUrl: receiver.url,
          projectName: 'rlm-scores',
        });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
        const run = obs.startRun({
          runId: 'ls-score-1',
          task: 'score me',
          environment: 'dspy',
          sessionId: 'conv-42',
          userId: 'user-7',
          tags: ['eval', 'nightly'],
        });
        run.step({
          observation: { success: true },
          reward: 0.5,
          usage: { model: 'gpt-4.1-mini', inputTokens: 10, outputTokens: 5, costUsd: 0.0012 },
        });
        run.step({ observation: { success: true }, reward: 0.25 });
        const child = run.child({ runId: 'ls-score-1-child', task: 'nested', tags: ['sub'] });
        child.end({ completed: false, error: 'gave up' });
        run.score('correctness', 0.8, { comment: 'one edge case missed', source: 'llm-judge' });
        run.score('verdict', 'pass', { step: 2 });
        run.feedback('thumbs_up', true, { comment: 'nice', source: 'user' });
        run.end({ finalAnswer: 'a' });
        await obs.flush();
        // Late feedback, after the run ended in LangSmith.
        run.feedback('rating', 4, { step: 1, source: 'reviewer', comment: 'late' });
        sink.onScore('never-seen', {
          name: 'x',
          value: 1,
          kind: 'score',
          at: new Date().toISOString(),
        });
        const report = await obs.shutdown({ timeoutMs: 30_000 });
        expect(report.ok).toBe(true);
        expect(sink.stats()).toMatchObject({ failed_requests: 0, unmatched_scores: 1 });

        const startMs = Date.parse(run.startedAt);
        const rootId = langsmithRunId(run.id, startMs);
        const childId = langsmithRunId(child.id, Date.parse(child.startedAt));
        const projectId = receiver.projects.get('rlm-scores')!.id;
        const feedback = [...receiver.feedback.values()];
        const byKey = (key: string, runId = rootId) =>
          feedback.filter((f) => f.key === key && f.run_id === runId);
        // Feedback is the client's direct POST /feedback (no auto-batch queue).
        expect(new Set(feedback.map((f) => f.via))).toEqual(new Set(['feedback']));
        expect(feedback.every((f) => f.session_id === projectId && f.trace_id === rootId)).toBe(
          true,
        );
        expect(byKey('correctness')).toEqual([
          expect.objectContaining({
            score: 0.8,
            comment: 'one edge case missed',
            feedback_source: {
              type: 'api',
              metadata: {
                kind: 'score',
                source: 'llm-judge',
                rlm_run_id: 'ls-score-1',
                at: expect.any(String),
              },
            },
          }),
        ]);
        const verdict = byKey('verdict', langsmithRunId(run.id, startMs, 2));
        expect(verdict).toEqual([
          expect.objectContaining({
            value: 'pass',
            feedback_source: expect.objectContaining({
              metadata: expect.objectContaining({ kind: 'score', step: 2 }),
            }),
          }),
        ]);
        expect(verdict[0]!.score).toBeUndefined();
        expect(byKey('thumbs_up')).toEqual([
          expect.objectContaining({
            score: 1,
            comment: 'nice',
            feedback_source: expect.objectContaining({
              type: 'app',
              metadata: expect.objectContaining({ kind: 'feedback', source: 'user' }),
            }),
          }),
        ]);
        expect(byKey('rating', langsmithRunId(run.id, startMs, 1))).toEqual([
          expect.objectContaining({ score: 4, comment: 'late' }),
        ]);
        // The seed's end-of-run scores, on the run and on the nested run.
        for (const [id, reward, completed] of [
          [rootId, 0.75, 1],
          [childId, 0, 0],
        ] as const) {
          expect(byKey('reward', id)).toEqual([
            expect.objectContaining({
              score: reward,
              feedback_source: expect.objectContaining({
                metadata: expect.objectContaining({ kind: 'score', source: 'rlm-obs' }),
              }),
            }),
          ]);
          expect(byKey('completed', id)).toEqual([expect.objectContaining({ score: completed })]);
        }
        expect(feedback).toHaveLength(8);

        // Session, user and tags on the run; the metadata reaches its step and nested runs.
        const root = receiver.runs.get(rootId)!;
        expect(root.extra?.metadata).toMatchObject({
          run_id: 'ls-score-1',
          session_id: 'conv-42',
          thread_id: 'conv-42',
          user_id: 'user-7',
        });
        expect(root.tags).toEqual(['rlm', 'dspy', 'eval', 'nightly']);
        const nested = receiver.runs.get(childId)!;
        expect(nested.extra?.metadata).toMatchObject({
          run_id: 'ls-score-1-child',
          session_id: 'conv-42',
          user_id: 'user-7',
        });
        expect(nested.tags).toEqual(['rlm', 'default', 'eval', 'nightly', 'sub']);
        const step1 = receiver.runs.get(langsmithRunId(run.id, startMs, 1))!;
        expect(step1.extra?.metadata).toMatchObject({ session_id: 'conv-42', user_id: 'user-7' });
        // The cost of the LLM call, in LangSmith's usage shape.
        const llm = [...receiver.runs.values()].find((r) => r.parent_run_id === step1.id)!;
        expect(llm.outputs?.usage_metadata).toEqual({
          input_tokens: 10,
          output_tokens: 5,
          total_tokens: 15,
          total_cost: 0.0012,
        });
      } finally {
        await receiver.close();
      }
    });
  }
});

describe('auth cooldown', () => {
  for (const status of ['401', '403'] as const) {
    it(`after HTTP ${status} the sink pauses, counts what it skips, and resumes when the key works`, async () => {
      const receiver = await startLangSmithReceiver();
      let now = 1_800_000_000_000;
      try {
        const sink = await createSink({
          apiKey: receiver.apiKey,
          apiUrl: receiver.url,
          projectName: 'rlm-auth',
          authCooldown: { now: () => now, random: () => 0.5 },
        });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        receiver.mode = status;
        const run = obs.startRun({ runId: `ls-auth-${status}`, task: 't' });
        run.step({ observation: { success: true }, reward: 1 });
        expect((await obs.flush()).ok).toBe(false);
        const base = `${receiver.url} project: rlm-auth`;
        expect(sink.status()).toMatchObject({
          available: true,
          detail: `${base}; auth failed (HTTP ${status}): paused for 60s, 0 events skipped; check the credentials`,
          authFailures: 1,
          authSkipped: 0,
          authPausedUntil: new Date(now + 60_000).toISOString(),
        });

        // During the pause nothing is sent, and everything is counted.
        const requests = receiver.routes.length;
        for (let i = 0; i < 5; i++) run.step({ observation: { success: true }, reward: 1 });
        run.score('quality', 0.9);
        now += 30_000;
        expect((await obs.flush()).ok).toBe(false);
        expect(receiver.routes.length).toBe(requests);
        expect(sink.status().detail).toBe(
          `${base}; auth failed (HTTP ${status}): paused for 30s, 6 events skipped; check the credentials`,
        );
        expect(sink.stats()).toMatchObject({ authFailures: 1, authSkipped: 6 });
        const check = await sink.check();
        expect(check.ok).toBe(false);
        expect(check.problems[0]!.problem).toContain(`HTTP ${status}`);
        expect(check.problems[0]!.fix).toContain('LANGSMITH_API_KEY');
        expect(receiver.routes.length).toBe(requests);
        for (const text of [JSON.stringify(sink.status()), JSON.stringify(check)])
          expect(text).not.toContain(receiver.apiKey);

        // The pause is over and LangSmith takes the key again.
        now += 30_001;
        receiver.mode = 'ok';
        expect(sink.status().detail).toBe(`${base}; auth failed (HTTP ${status}) 1x; retrying`);
        run.step({ observation: { success: true }, reward: 1 });
        run.end();
        const report = await obs.shutdown({ timeoutMs: 30_000 });
        expect(report.ok).toBe(true);
        expect(sink.status()).toMatchObject({
          detail: base,
          authFailures: 1,
          authSkipped: 6,
          authPausedUntil: null,
        });
        expect((await sink.check()).ok).toBe(true);

        // The run was posted again with its first step after the pause, and ended.
        const rootId = langsmithRunId(run.id, Date.parse(run.startedAt));
        const root = receiver.runs.get(rootId)!;
        expect(root.outputs).toMatchObject({ completed: true, steps: 7, total_reward: 7 });
        expect(
          [...receiver.runs.values()].filter((r) => r.parent_run_id === rootId).map((r) => r.name),
        ).toEqual(['step-7']);
        expect(
          [...receiver.feedback.values()].map((f) => [f.key, f.run_id, f.score]).sort(),
        ).toEqual([
          ['completed', rootId, 1],
          ['reward', rootId, 7],
        ]);
      } finally {
        await receiver.close();
      }
    });
  }
});

describe('sub-runs whose parent already ended (rlm-obs replay)', () => {
  const iso = (ms: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + ms).toISOString();
  const start = (obs: RLMObservability, runId: string, ms: number, parentRunId?: string) =>
    obs.onRunStart(runId, {
      task: runId,
      environment: 'e',
      params: {},
      startedAt: iso(ms),
      ...(parentRunId ? { parentRunId } : {}),
      ...(runId === 'parent-1' ? { sessionId: 'sess-1' } : {}),
    });
  const end = (obs: RLMObservability, runId: string, ms: number) =>
    obs.onRunEnd(runId, {
      result: { completed: true, steps: 0, totalReward: 0, finishedAt: iso(ms) },
    });
  const shape = (receiver: LangSmithReceiver) =>
    [...receiver.runs.values()]
      .map((r) => ({
        id: r.id,
        name: r.name,
        parent_run_id: r.parent_run_id ?? null,
        trace_id: r.trace_id,
        dotted_order: r.dotted_order,
        metadata: r.extra?.metadata,
      }))
      .sort((a, b) => a.id.localeCompare(b.id));

  it('a child started after its parent ended nests under it, as the live run nested it', async () => {
    const live = await startLangSmithReceiver();
    const replayed = await startLangSmithReceiver();
    try {
      // Live: the children start while the parent is open (grandchild under the first).
      const sink = await createSink({ apiKey: live.apiKey, apiUrl: live.url });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      start(obs, 'parent-1', 0);
      start(obs, 'child-1', 10, 'parent-1');
      end(obs, 'child-1', 20);
      start(obs, 'child-2', 30, 'parent-1');
      end(obs, 'child-2', 40);
      end(obs, 'parent-1', 100);
      // A child that starts after its parent ended, in the same process.
      start(obs, 'child-late', 50, 'parent-1');
      end(obs, 'child-late', 60);
      await obs.shutdown();
      // Replay: one run at a time, parent first (what `rlm-obs replay` does).
      const again = await createSink({ apiKey: replayed.apiKey, apiUrl: replayed.url });
      const robs = RLMObservability.withSinks([again], { flushOnExit: false });
      for (const [runId, from, to, parent] of [
        ['parent-1', 0, 100, undefined],
        ['child-1', 10, 20, 'parent-1'],
        ['child-2', 30, 40, 'parent-1'],
        ['child-late', 50, 60, 'parent-1'],
      ] as const) {
        start(robs, runId, from, parent);
        end(robs, runId, to);
        await robs.flush();
      }
      await robs.shutdown();

      const runs = shape(live);
      const root = runs.find((r) => r.metadata?.run_id === 'parent-1')!;
      expect(root.parent_run_id).toBeNull();
      const late = runs.find((r) => r.metadata?.run_id === 'child-late')!;
      expect(late).toMatchObject({
        id: langsmithRunId('child-late', Date.parse(iso(50))),
        parent_run_id: root.id,
        trace_id: root.id,
        // the parent's metadata (the session) with the child's own run id
        metadata: { run_id: 'child-late', session_id: 'sess-1' },
      });
      expect(String(late.dotted_order).startsWith(`${root.dotted_order}.`)).toBe(true);
      for (const r of runs) expect(r.trace_id).toBe(root.id);
      // The replay sends every run exactly as the live process did: same ids, same tree.
      expect(shape(replayed)).toEqual(runs);
    } finally {
      await live.close();
      await replayed.close();
    }
  });
});

describe('step runs without a step number, or with a reused one', () => {
  const record = async (receiver: LangSmithReceiver, steps: Array<number | undefined>) => {
    const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
    obs.onRunStart('numbered', {
      task: 't',
      environment: 'e',
      params: {},
      startedAt: '2026-11-21T10:00:00.000Z',
    });
    steps.forEach((step, i) => {
      obs.onStep('numbered', {
        event: {
          ...(step !== undefined ? { step } : {}),
          action: { action: 'run_python', code: `print(${i})` },
          observation: { success: true },
          usage: { model: 'm', inputTokens: 1, outputTokens: 1 },
        },
        cumulativeReward: 0,
      });
    });
    obs.onRunEnd('numbered', { result: { completed: true } });
    await obs.shutdown();
  };
  const steps = (receiver: LangSmithReceiver) =>
    [...receiver.runs.values()].filter((r) => r.run_type === 'tool');
  const startMs = Date.parse('2026-11-21T10:00:00.000Z');

  it('steps without a number are the n-th step of the run: a run each, named and found by n', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      await record(receiver, [undefined, undefined, undefined]);
      const sent = steps(receiver);
      expect(sent).toHaveLength(3);
      for (const n of [1, 2, 3]) {
        const run = receiver.runs.get(langsmithRunId('numbered', startMs, n))!;
        expect(run).toMatchObject({ name: `step-${n}`, inputs: { code: `print(${n - 1})` } });
        // each step's LLM run under it
        expect([...receiver.runs.values()].filter((r) => r.parent_run_id === run.id)).toHaveLength(
          1,
        );
      }
    } finally {
      await receiver.close();
    }
  });

  it('a reused step number (or one a numberless step already took) is still a run of its own; a replay adds none', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const order = [1, 1, 2, undefined, 2];
      await record(receiver, order);
      const sent = steps(receiver);
      expect(sent).toHaveLength(5);
      expect(new Set(sent.map((r) => r.inputs?.code))).toEqual(
        new Set(order.map((_, i) => `print(${i})`)),
      );
      // The first use of a number keeps the id earlier versions gave it.
      expect(receiver.runs.get(langsmithRunId('numbered', startMs, 1))!.inputs?.code).toBe(
        'print(0)',
      );
      expect(receiver.runs.get(langsmithRunId('numbered', startMs, 2))!.inputs?.code).toBe(
        'print(2)',
      );
      // The numberless 4th step is step 4.
      expect(receiver.runs.get(langsmithRunId('numbered', startMs, 4))!.inputs?.code).toBe(
        'print(3)',
      );
      expect(new Set(sent.map((r) => r.parent_run_id)).size).toBe(1);
      const total = receiver.runs.size;
      expect(total).toBe(1 + 5 + 5); // the run, its steps, their LLM runs
      await record(receiver, order);
      expect(receiver.runs.size).toBe(total);
      expect(steps(receiver).map((r) => r.inputs?.code)).toEqual(sent.map((r) => r.inputs?.code));
    } finally {
      await receiver.close();
    }
  });
});

describe('check() (rlm-obs doctor)', () => {
  it('asks LangSmith each time: down, then up, then refusing the key, then down again', async () => {
    const port = await closedPort();
    const apiKey = 'lsv2_test_key_check_secret';
    const apiUrl = `http://127.0.0.1:${port}`;
    // No connection check at setup: check() alone must find out.
    const sink = new LangSmithSink({ apiKey, apiUrl, connectionCheck: false });
    expect(sink.status().available).toBe(true);
    const down = await sink.check();
    expect(down.ok).toBe(false);
    expect(down.problems[0]!.problem).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:\d+: /);
    const receiver = await startLangSmithReceiver(apiKey, port);
    try {
      const up = await sink.check();
      expect(up).toEqual({ ok: true, problems: [], detail: `${apiUrl} project: rlm-code` });
      // One authenticated request, not retried.
      expect(receiver.routes).toEqual(['GET /sessions']);
      receiver.apiKey = 'lsv2_another_key';
      const refused = await sink.check();
      expect(refused.ok).toBe(false);
      expect(refused.problems[0]!.problem).toBe(`the API key was refused by ${apiUrl}`);
      expect(refused.problems[0]!.fix).toContain('LANGSMITH_API_KEY');
      expect(JSON.stringify(refused)).not.toContain('check_secret');
      expect(receiver.routes).toEqual(['GET /sessions', 'GET /sessions']);
      // The check is a report: it neither counts as an upload nor pauses the uploads.
      expect(sink.stats()).toMatchObject({ requests: 0, failed_requests: 0, authFailures: 0 });
    } finally {
      await receiver.close();
    }
    expect((await sink.check()).ok).toBe(false);
    await sink.shutdown();
  });

  it('a sink whose setup check passed reports a LangSmith that went down since', async () => {
    const receiver = await startLangSmithReceiver();
    const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
    expect((await sink.check()).ok).toBe(true);
    await receiver.close();
    const result = await sink.check();
    expect(result.ok).toBe(false);
    expect(result.problems[0]!.problem).toContain(`cannot reach ${receiver.url}`);
    await sink.shutdown();
  });
});

describe('runs that did not complete', () => {
  it('the root run and a nested run carry the error given, else "Run did not complete"', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const withError = obs.startRun({ task: 'gives up' });
      withError.step({ observation: { success: false, error: 'boom' }, reward: 0 });
      const childWithError = withError.child({ task: 'nested, gives up' });
      childWithError.end({ completed: false, error: 'child gave up' });
      const childWithout = withError.child({ task: 'nested, stops' });
      childWithout.end({ completed: false });
      const childDone = withError.child({ task: 'nested, done' });
      childDone.end({ finalAnswer: 'ok' });
      withError.end({ completed: false, error: 'gave up' });
      const without = obs.startRun({ task: 'stops' });
      without.end({ completed: false });
      expect((await obs.shutdown({ timeoutMs: 10_000 })).ok).toBe(true);
      const root = (run: typeof without) =>
        receiver.runs.get(langsmithRunId(run.id, Date.parse(run.startedAt)))!;
      expect(root(withError)).toMatchObject({
        error: 'gave up',
        outputs: { completed: false, steps: 1 },
      });
      expect(root(without)).toMatchObject({
        error: 'Run did not complete',
        outputs: { completed: false, steps: 0 },
      });
      const parentId = root(withError).id;
      expect(root(childWithError)).toMatchObject({
        parent_run_id: parentId,
        error: 'child gave up',
        outputs: { completed: false },
      });
      expect(root(childWithout)).toMatchObject({
        parent_run_id: parentId,
        error: 'Run did not complete',
        outputs: { completed: false },
      });
      expect(root(childDone).outputs).toMatchObject({ completed: true, final_answer: 'ok' });
      expect(root(childDone).error).toBeUndefined();
    } finally {
      await receiver.close();
    }
  });
});

describe('custom attributes', () => {
  it("the observability's and the run's attributes reach the root, step and LLM runs", async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
      const obs = RLMObservability.withSinks([sink], {
        flushOnExit: false,
        attributes: { team: 'ml-platform', environment_name: 'production' },
      });
      const run = obs.startRun({ task: 't', attributes: { experiment_id: 'exp-123' } });
      run.step({
        observation: { success: true },
        reward: 1,
        usage: { model: 'm', inputTokens: 1, outputTokens: 1 },
      });
      const child = run.child({ task: 'nested' });
      child.step({ observation: { success: false, error: 'x' }, reward: 0 });
      child.end();
      run.end();
      expect((await obs.shutdown({ timeoutMs: 10_000 })).ok).toBe(true);
      const runs = [...receiver.runs.values()];
      // The run's root, step and LLM run; the nested run's root and step run.
      expect(runs.map((r) => r.run_type).sort()).toEqual(['chain', 'chain', 'llm', 'tool', 'tool']);
      for (const r of runs)
        expect(r.extra?.metadata, `${r.run_type} ${r.name}`).toMatchObject({
          team: 'ml-platform',
          environment_name: 'production',
          experiment_id: 'exp-123', // the nested run inherits its parent's metadata
        });
    } finally {
      await receiver.close();
    }
  });
});

describe('status() shows what was lost', () => {
  it('failed requests and the last error (without the key) once uploads failed', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({
        apiKey: receiver.apiKey,
        apiUrl: receiver.url,
        maxRetries: 0,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      expect(sink.status()).toMatchObject({ failed_requests: 0, runs_dropped: 0 });
      expect(sink.status().last_error).toBeUndefined();
      receiver.mode = '503';
      const run = obs.startRun({ task: 'lost' });
      run.step({ observation: { success: true }, reward: 1 });
      run.end();
      expect((await obs.flush({ timeoutMs: 10_000 })).ok).toBe(false);
      const status = sink.status();
      expect(status.failed_requests).toBeGreaterThan(0);
      expect(status.failed_requests).toBe(sink.stats().failed_requests);
      expect(status.last_error).toMatch(/\b503\b/);
      expect(JSON.stringify(status)).not.toContain(receiver.apiKey);
      await obs.shutdown({ timeoutMs: 5_000 });
    } finally {
      await receiver.close();
    }
  });

  it('step runs dropped over the memory bound: counted in status() too', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({
        apiKey: receiver.apiKey,
        apiUrl: receiver.url,
        maxQueuedBytes: 64 * 1024,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ task: 'bounded' });
      for (let i = 0; i < 200; i++)
        run.step({
          action: { action: 'a', code: 'x'.repeat(200) },
          observation: { success: true },
        });
      run.end();
      const report = await obs.flush({ timeoutMs: 10_000 });
      expect(report.sinks[0]!.error).toMatch(/step runs dropped/);
      const status = sink.status();
      expect(status.runs_dropped).toBeGreaterThan(100);
      expect(Number(status.runs_sent) + Number(status.runs_dropped)).toBe(200);
      await obs.shutdown({ timeoutMs: 5_000 });
    } finally {
      await receiver.close();
    }
  });
});

describe('maxIngestMemoryBytes', () => {
  // All 200 step runs are built in one turn of the event loop, before an upload starts: the
  // bound decides how many wait for it.
  async function sendSteps(options: { maxIngestMemoryBytes?: number; maxQueuedBytes?: number }) {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url, ...options });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ task: 'bounded' });
      for (let i = 0; i < 200; i++)
        run.step({
          action: { action: 'a', code: 'x'.repeat(200) },
          observation: { success: true },
        });
      run.end();
      await obs.shutdown({ timeoutMs: 10_000 });
      return sink.stats();
    } finally {
      await receiver.close();
    }
  }

  it('bounds the memory of the runs waiting for upload, as maxQueuedBytes does', async () => {
    const bounded = await sendSteps({ maxIngestMemoryBytes: 64 * 1024 });
    expect(bounded.runs_dropped).toBeGreaterThan(100);
    expect(bounded.runs_sent + bounded.runs_dropped).toBe(200);
    // maxQueuedBytes, when given too, wins.
    const both = await sendSteps({ maxIngestMemoryBytes: 64 * 1024, maxQueuedBytes: 1 << 24 });
    expect(both).toMatchObject({ runs_sent: 200, runs_dropped: 0 });
  });
});

describe('limits', () => {
  it('code, output, final answer and errors are cut at the limits given, and marked', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({
        apiKey: receiver.apiKey,
        apiUrl: receiver.url,
        limits: { code: 10, output: 20, finalAnswer: 30, error: 40 },
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({ task: 'limits' });
      run.step({
        action: { action: 'a', code: 'c'.repeat(100) },
        observation: { success: true, output: 'o'.repeat(100) },
      });
      run.step({ observation: { success: false, error: 'e'.repeat(100) } });
      const child = run.child({ task: 'nested' });
      child.end({ completed: false, error: 'f'.repeat(100) });
      run.end({ finalAnswer: 'a'.repeat(100) });
      expect((await obs.shutdown({ timeoutMs: 10_000 })).ok).toBe(true);
      const rootId = langsmithRunId(run.id, Date.parse(run.startedAt));
      const step = (name: string) =>
        [...receiver.runs.values()].find((r) => r.name === name && r.parent_run_id === rootId)!;
      expect(step('step-1').inputs?.code).toBe(`${'c'.repeat(10)}…[truncated 90 chars]`);
      expect(step('step-1').outputs?.output).toBe(`${'o'.repeat(20)}…[truncated 80 chars]`);
      expect(step('step-2').error).toBe(`${'e'.repeat(40)}…[truncated 60 chars]`);
      expect(receiver.runs.get(langsmithRunId(child.id, Date.parse(child.startedAt)))!.error).toBe(
        `${'f'.repeat(40)}…[truncated 60 chars]`,
      );
      expect(receiver.runs.get(rootId)!.outputs?.final_answer).toBe(
        `${'a'.repeat(30)}…[truncated 70 chars]`,
      );
    } finally {
      await receiver.close();
    }
  });

  it('by default every text is cut at 500 characters, errors too', async () => {
    const receiver = await startLangSmithReceiver();
    try {
      const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({ task: 'limits' });
      run.step({
        action: { action: 'a', code: 'c'.repeat(600) },
        observation: { success: false, output: 'o'.repeat(600), error: 'e'.repeat(600) },
      });
      run.end({ completed: false, finalAnswer: 'a'.repeat(600), error: 'f'.repeat(600) });
      expect((await obs.shutdown({ timeoutMs: 10_000 })).ok).toBe(true);
      const rootId = langsmithRunId(run.id, Date.parse(run.startedAt));
      const step = [...receiver.runs.values()].find((r) => r.parent_run_id === rootId)!;
      const cut = (c: string) => `${c.repeat(500)}…[truncated 100 chars]`;
      expect(step.inputs?.code).toBe(cut('c'));
      expect(step.outputs?.output).toBe(cut('o'));
      expect(step.error).toBe(cut('e'));
      expect(receiver.runs.get(rootId)!.outputs?.final_answer).toBe(cut('a'));
      expect(receiver.runs.get(rootId)!.error).toBe(cut('f'));
    } finally {
      await receiver.close();
    }
  });
});

describe("the sink's own requests", () => {
  it('run with OpenTelemetry tracing suppressed (an HTTP/undici instrumentation skips them)', async () => {
    // The key `suppressTracing()` of @opentelemetry/core sets (`Symbol.for`: the same key).
    const SUPPRESS = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');
    const APP = createContextKey('an application value');
    const receiver = await startLangSmithReceiver();
    const realFetch = globalThis.fetch;
    const seen: { route: string; suppressed: boolean }[] = [];
    vi.stubGlobal('fetch', (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
      seen.push({
        route: endpoint(`${method} ${url.pathname}`),
        suppressed: context.active().getValue(SUPPRESS) === true,
      });
      return realFetch(input, init);
    });
    expect(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())).toBe(
      true,
    );
    try {
      // The application works in a context of its own (an active span, say).
      await context.with(ROOT_CONTEXT.setValue(APP, 'app'), async () => {
        const sink = await createSink({ apiKey: receiver.apiKey, apiUrl: receiver.url });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
        const run = obs.startRun({ task: 'traced app' });
        run.step({ observation: { success: true }, reward: 1 });
        run.score('quality', 1);
        run.end();
        expect((await obs.flush({ timeoutMs: 10_000 })).ok).toBe(true);
        expect((await sink.check()).ok).toBe(true);
        await obs.shutdown({ timeoutMs: 10_000 });
        expect(context.active().getValue(APP)).toBe('app');
        expect(context.active().getValue(SUPPRESS)).toBeUndefined();
      });
      // Every request: the setup check, the run's create and patch, the step runs, the
      // project lookup and the feedback, and check().
      expect(new Set(seen.map((s) => s.route))).toEqual(
        new Set([
          'GET /sessions',
          'POST /runs',
          'POST /runs/batch',
          'PATCH /runs/{id}',
          'POST /sessions',
          'POST /feedback',
        ]),
      );
      expect(seen.filter((s) => !s.suppressed)).toEqual([]);
    } finally {
      context.disable();
      vi.unstubAllGlobals();
      await receiver.close();
    }
  });
});
