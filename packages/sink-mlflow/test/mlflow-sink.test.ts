/**
 * Against a real MLflow tracking server; everything is read back through its REST API.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { describeSinkConformance } from '@rlm/obs-core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMlflowSinkFromEnv,
  createSink,
  LIMITS,
  MlflowClient,
  MlflowSink,
  maskUri,
  validKey,
} from '../src/index.js';
import { createMlflowServer, type MlflowServer, mlflowCommand } from './mlflow-server.js';

const command = mlflowCommand();
if (!command && process.env.RLM_OBS_REQUIRE_MLFLOW)
  throw new Error('MLflow is required here: run scripts/setup-mlflow.sh');

describe('the client without a server', () => {
  it('makes keys valid and cuts long values', () => {
    expect(validKey('step reward/ä€!')).toBe('step reward/___');
    expect(validKey('x'.repeat(300))).toHaveLength(LIMITS.keyLength);
    expect(validKey('')).toBe('_');
  });

  it('masks credentials in the tracking URI', () => {
    expect(maskUri('https://user:s3cret@mlflow.example.com/')).toBe(
      'https://***@mlflow.example.com',
    );
    expect(maskUri('http://127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
  });

  it('retries 429 and 503 with backoff, honouring Retry-After, and sends auth', async () => {
    const seen: Array<{ auth: string | null }> = [];
    const answers = [429, 503, 200];
    const client = new MlflowClient({
      trackingUri: 'http://mlflow.test',
      username: 'u',
      password: 'p',
      backoffMs: 1,
      fetch: (async (_url: string, init: RequestInit) => {
        seen.push({ auth: new Headers(init.headers).get('authorization') });
        const status = answers.shift()!;
        return new Response(
          status === 200
            ? '{"experiment_id":"7"}'
            : '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}',
          {
            status,
            headers: status === 429 ? { 'retry-after': '0' } : {},
          },
        );
      }) as typeof fetch,
    });
    expect(await client.request('POST', 'experiments/create', { name: 'x' })).toEqual({
      experiment_id: '7',
    });
    expect(seen).toHaveLength(3);
    expect(seen[0]!.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    const bearer = new MlflowClient({
      trackingUri: 'http://x',
      token: 'tok',
      fetch: (async (_u: string, init: RequestInit) =>
        new Response(new Headers(init.headers).get('authorization'))) as unknown as typeof fetch,
    });
    await expect(bearer.request('GET', 'x')).rejects.toThrow();
  });

  it('reads the seed variables; the status shows the URI without credentials', () => {
    expect(createMlflowSinkFromEnv({}).status()).toEqual({
      name: 'mlflow',
      enabled: false,
      available: false,
      detail: 'disabled',
      experiment: 'rlm-code-rlm',
    });
    const on = createMlflowSinkFromEnv({
      DSPY_RLM_MLFLOW_ENABLED: 'true',
      MLFLOW_TRACKING_URI: 'http://bob:hunter2@127.0.0.1:1',
      DSPY_RLM_MLFLOW_EXPERIMENT: 'exp',
    });
    expect(on.status()).toMatchObject({
      enabled: true,
      detail: 'http://***@127.0.0.1:1',
      experiment: 'exp',
    });
    expect(JSON.stringify(on.status())).not.toContain('hunter2');
  });
});

describe.skipIf(!command)('mlflow sink against a real MLflow tracking server', () => {
  let server: MlflowServer;
  beforeAll(async () => {
    server = await createMlflowServer(command!);
    await server.start();
  }, 150_000);
  afterAll(async () => {
    await server?.stop();
    server?.remove();
  });

  it('records runs, steps, nested runs, artifacts and statuses, and reads them back', async () => {
    const experiment = `rlm-e2e-${Date.now()}`;
    const runDir = path.join(server.dir, 'run-artifacts', 'run-1');
    fs.mkdirSync(path.join(runDir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(runDir, 'trajectory.json'), '{"steps":2}');
    fs.writeFileSync(path.join(runDir, 'sub', 'notes.txt'), 'hello');
    const sink = await createSink({ trackingUri: server.url, experiment });
    expect(sink.status()).toEqual({
      name: 'mlflow',
      enabled: true,
      available: true,
      detail: server.url,
      experiment,
    });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
    const run = obs.startRun({
      runId: 'mlf-run-1',
      task: 'Build a DSPy signature',
      environment: 'dspy',
      params: {
        max_steps: 5,
        model: 'gpt-4.1',
        nested: { a: 1 },
        list: [1, 2],
        'bad key!': 'v',
        long: 'p'.repeat(7000),
      },
      runPath: runDir,
    });
    run.step({
      action: { action: 'run_python' },
      observation: { success: true },
      reward: 0.5,
      usage: { model: 'gpt-4.1', inputTokens: 100, outputTokens: 10, costUsd: 0.002 },
    });
    run.step({
      action: { action: 'run_python' },
      observation: { success: false, error: 'x' },
      reward: 0.25,
    });
    const child = run.child({ runId: 'mlf-child-1', task: 'nested', environment: 'dspy' });
    child.step({ reward: 1 });
    child.end();
    run.end({ finalAnswer: 'done' });
    const failed = obs.startRun({ runId: 'mlf-failed-1', task: 'fails', environment: 'pure_rlm' });
    failed.fail(new Error('budget'));
    const report = await obs.shutdown({ timeoutMs: 60_000 });
    expect(report.ok).toBe(true);

    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const [found] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-run-1');
    const mlflowRun = await client.getRun(found!.info.run_id);
    expect(mlflowRun.info).toMatchObject({ run_name: 'mlf-run-1', status: 'FINISHED' });
    const params = Object.fromEntries((mlflowRun.data.params ?? []).map((p) => [p.key, p.value]));
    expect(params).toMatchObject({
      max_steps: '5',
      model: 'gpt-4.1',
      environment: 'dspy',
      task_chars: '22',
      'bad key_': 'v',
    });
    expect(params.nested).toBeUndefined();
    expect(params.list).toBeUndefined();
    expect(params.long!.length).toBeLessThanOrEqual(LIMITS.paramValueLength);
    const tags = Object.fromEntries((mlflowRun.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({ run_id: 'mlf-run-1', component: 'rlm-code-rlm' });
    const latest = Object.fromEntries((mlflowRun.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(latest).toMatchObject({
      completed: 1,
      steps: 2,
      total_reward: 0.75,
      total_input_tokens: 100,
      total_output_tokens: 10,
      total_cost_usd: 0.002,
    });
    expect(
      (await client.getMetricHistory(mlflowRun.info.run_id, 'step_reward')).map((m) => [
        m.step,
        m.value,
      ]),
    ).toEqual([
      [1, 0.5],
      [2, 0.25],
    ]);
    expect(
      (await client.getMetricHistory(mlflowRun.info.run_id, 'cumulative_reward')).map((m) => [
        m.step,
        m.value,
      ]),
    ).toEqual([
      [1, 0.5],
      [2, 0.75],
    ]);
    expect(
      (await client.getMetricHistory(mlflowRun.info.run_id, 'input_tokens')).map((m) => m.value),
    ).toEqual([100]);
    const top = await client.listArtifacts(mlflowRun.info.run_id);
    expect(top.map((f) => f.path)).toEqual(['run-1']);
    const inside = await client.listArtifacts(mlflowRun.info.run_id, 'run-1');
    expect(inside.map((f) => f.path).sort()).toEqual(['run-1/sub', 'run-1/trajectory.json']);

    const [childRun] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-child-1');
    const childTags = Object.fromEntries((childRun!.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(childTags['mlflow.parentRunId']).toBe(mlflowRun.info.run_id);
    const [failedRun] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-failed-1');
    expect(failedRun!.info.status).toBe('FAILED');
    expect(
      Object.fromEntries((failedRun!.data.metrics ?? []).map((m) => [m.key, m.value])).completed,
    ).toBe(0);
  }, 120_000);

  it('a replay finds the existing MLflow run by its run_id tag instead of duplicating it', async () => {
    const experiment = `rlm-replay-${Date.now()}`;
    for (let i = 0; i < 2; i++) {
      const obs = RLMObservability.withSinks(
        [await createSink({ trackingUri: server.url, experiment })],
        { flushOnExit: false },
      );
      obs.onRunStart('replayed-run', { task: 't', environment: 'e', params: { k: 1 } });
      obs.onStep('replayed-run', { event: { step: 1, reward: 1 }, cumulativeReward: 1 });
      obs.onRunEnd('replayed-run', { result: { completed: true, steps: 1, totalReward: 1 } });
      expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    }
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    expect(await client.findRunsByTag(experimentId, 'run_id', 'replayed-run')).toHaveLength(1);
  }, 120_000);

  it('two processes creating the experiment at once both get it', async () => {
    const experiment = `rlm-race-${Date.now()}`;
    const sinks = await Promise.all(
      Array.from({ length: 4 }, () => createSink({ trackingUri: server.url, experiment })),
    );
    expect(sinks.every((s) => s.status().available)).toBe(true);
  });

  it('the server stops mid-run: the caller is unaffected, failures are counted, and it recovers', async () => {
    const experiment = `rlm-outage-${Date.now()}`;
    const sink = await createSink({
      trackingUri: server.url,
      experiment,
      maxRetries: 1,
      timeoutMs: 2000,
    });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const before = obs.startRun({ runId: 'before-outage', task: 't' });
    before.step({ reward: 1 });
    await obs.flush({ timeoutMs: 30_000 });
    await server.stop();
    const during = obs.startRun({ runId: 'during-outage', task: 't' });
    for (let i = 0; i < 200; i++) during.step({ reward: 1 });
    before.step({ reward: 1 });
    expect(obs.status()[0]!.counters).toMatchObject({ failed: 0, pending: 0 });
    const outage = await obs.flush({ timeoutMs: 60_000 });
    expect(outage.ok).toBe(false);
    expect(sink.stats().failed).toBeGreaterThan(0);
    await server.start();
    const after = obs.startRun({ runId: 'after-outage', task: 't' });
    after.step({ reward: 1 });
    after.end();
    before.end();
    const recovered = await obs.shutdown({ timeoutMs: 60_000 });
    expect(recovered.ok).toBe(true);
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const [afterRun] = await client.findRunsByTag(experimentId, 'run_id', 'after-outage');
    expect(afterRun!.info.status).toBe('FINISHED');
    const [beforeRun] = await client.findRunsByTag(experimentId, 'run_id', 'before-outage');
    expect(beforeRun!.info.status).toBe('FINISHED');
  }, 240_000);

  describeSinkConformance(
    () => new MlflowSink({ trackingUri: server.url, experiment: 'rlm-conformance', maxRetries: 0 }),
    {
      title: 'mlflow conformance',
      timeoutMs: 60_000,
    },
  );
});
