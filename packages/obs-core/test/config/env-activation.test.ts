/**
 * Seed 001's table, "Automatic Activation from Environment Variables": one test per variable.
 * Without a config file, loadObservability() reads them; each flag maps to a sink package
 * (fakes here, which report what they read), and an enabled sink that is not installed shows
 * `available: false` with the install command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SINKS } from '../../src/config/env-activation.js';
import { loadObservability } from '../../src/config/load-observability.js';
import { fakeSeedPackage, makeProject } from './project.js';

let installed: ReturnType<typeof makeProject>;
let bare: ReturnType<typeof makeProject>;
beforeAll(() => {
  installed = makeProject({ 'pnpm-lock.yaml': '' });
  for (const seed of SEED_SINKS.filter((s) => s.sinkName !== 'local-jsonl')) {
    for (const [rel, text] of Object.entries(
      fakeSeedPackage(seed.packageName, seed.sinkName, seed.flag, seed.settings),
    ))
      installed.write(rel, text);
  }
  const scope = path.join(installed.dir, 'node_modules', '@rlm');
  fs.symlinkSync(path.resolve(__dirname, '../../../sink-jsonl'), path.join(scope, 'sink-jsonl'));
  bare = makeProject({ 'pnpm-lock.yaml': '' });
});
afterAll(() => {
  installed.remove();
  bare.remove();
});

async function statusWith(env: Record<string, string>, dir = installed.dir) {
  const jsonlDir = path.join(dir, 'obs');
  const obs = await loadObservability({
    cwd: dir,
    env: { RLM_OBS_JSONL_DIR: jsonlDir, ...env },
    overrides: { flushOnExit: false, logger: false },
  });
  const status = Object.fromEntries(obs.status().map((s) => [s.name, s]));
  await obs.shutdown();
  return status;
}

describe('seed 001 environment variables', () => {
  it('defaults: the local JSONL sink on, every other sink listed as disabled', async () => {
    const status = await statusWith({});
    expect(Object.keys(status)).toEqual([
      'local-jsonl',
      'mlflow',
      'opentelemetry',
      'langsmith',
      'langfuse',
      'logfire',
    ]);
    expect(status['local-jsonl']).toMatchObject({ enabled: true, available: true });
    for (const name of ['mlflow', 'opentelemetry', 'langsmith', 'langfuse', 'logfire']) {
      expect(status[name], name).toMatchObject({
        enabled: false,
        available: false,
        detail: 'disabled',
      });
    }
  });

  it('DSPY_RLM_OBS_ENABLED=false switches everything off', async () => {
    const status = await statusWith({
      DSPY_RLM_OBS_ENABLED: 'false',
      DSPY_RLM_OTEL_ENABLED: 'true',
    });
    expect(Object.keys(status)).toEqual(['local-jsonl']);
    expect(status['local-jsonl']).toMatchObject({ enabled: false });
  });

  it('DSPY_RLM_OBS_LOCAL_JSONL=false turns the local sink off', async () => {
    expect((await statusWith({ DSPY_RLM_OBS_LOCAL_JSONL: 'false' }))['local-jsonl']).toMatchObject({
      enabled: false,
    });
    expect((await statusWith({ DSPY_RLM_OBS_LOCAL_JSONL: 'true' }))['local-jsonl']).toMatchObject({
      enabled: true,
    });
  });

  const rows: Array<[string, string, string, Record<string, string>, Record<string, string>]> = [
    // [variable, sink, flag, extra env, what the sink must have seen]
    ['DSPY_RLM_MLFLOW_ENABLED', 'mlflow', 'DSPY_RLM_MLFLOW_ENABLED', {}, {}],
    [
      'DSPY_RLM_MLFLOW_EXPERIMENT',
      'mlflow',
      'DSPY_RLM_MLFLOW_ENABLED',
      { DSPY_RLM_MLFLOW_EXPERIMENT: 'exp-1' },
      { DSPY_RLM_MLFLOW_EXPERIMENT: 'exp-1' },
    ],
    [
      'MLFLOW_TRACKING_URI',
      'mlflow',
      'DSPY_RLM_MLFLOW_ENABLED',
      { MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000' },
      { MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000' },
    ],
    ['DSPY_RLM_OTEL_ENABLED', 'opentelemetry', 'DSPY_RLM_OTEL_ENABLED', {}, {}],
    [
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'opentelemetry',
      'DSPY_RLM_OTEL_ENABLED',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317' },
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317' },
    ],
    [
      'OTEL_SERVICE_NAME',
      'opentelemetry',
      'DSPY_RLM_OTEL_ENABLED',
      { OTEL_SERVICE_NAME: 'svc' },
      { OTEL_SERVICE_NAME: 'svc' },
    ],
    [
      'DSPY_RLM_OTEL_METRICS_ENABLED',
      'opentelemetry',
      'DSPY_RLM_OTEL_ENABLED',
      { DSPY_RLM_OTEL_METRICS_ENABLED: 'false' },
      { DSPY_RLM_OTEL_METRICS_ENABLED: 'false' },
    ],
    ['DSPY_RLM_LANGSMITH_ENABLED', 'langsmith', 'DSPY_RLM_LANGSMITH_ENABLED', {}, {}],
    [
      'LANGCHAIN_API_KEY',
      'langsmith',
      'DSPY_RLM_LANGSMITH_ENABLED',
      { LANGCHAIN_API_KEY: 'lsv2_secret' },
      { LANGCHAIN_API_KEY: 'set' },
    ],
    [
      'LANGCHAIN_PROJECT',
      'langsmith',
      'DSPY_RLM_LANGSMITH_ENABLED',
      { LANGCHAIN_PROJECT: 'proj' },
      { LANGCHAIN_PROJECT: 'proj' },
    ],
    ['DSPY_RLM_LANGFUSE_ENABLED', 'langfuse', 'DSPY_RLM_LANGFUSE_ENABLED', {}, {}],
    [
      'LANGFUSE_PUBLIC_KEY',
      'langfuse',
      'DSPY_RLM_LANGFUSE_ENABLED',
      { LANGFUSE_PUBLIC_KEY: 'pk-lf-1' },
      { LANGFUSE_PUBLIC_KEY: 'set' },
    ],
    [
      'LANGFUSE_SECRET_KEY',
      'langfuse',
      'DSPY_RLM_LANGFUSE_ENABLED',
      { LANGFUSE_SECRET_KEY: 'sk-lf-1' },
      { LANGFUSE_SECRET_KEY: 'set' },
    ],
    [
      'LANGFUSE_HOST',
      'langfuse',
      'DSPY_RLM_LANGFUSE_ENABLED',
      { LANGFUSE_HOST: 'http://127.0.0.1:3000' },
      { LANGFUSE_HOST: 'http://127.0.0.1:3000' },
    ],
    ['DSPY_RLM_LOGFIRE_ENABLED', 'logfire', 'DSPY_RLM_LOGFIRE_ENABLED', {}, {}],
    [
      'LOGFIRE_TOKEN',
      'logfire',
      'DSPY_RLM_LOGFIRE_ENABLED',
      { LOGFIRE_TOKEN: 'pylf_v1_us_x' },
      { LOGFIRE_TOKEN: 'set' },
    ],
    [
      'LOGFIRE_PROJECT_NAME',
      'logfire',
      'DSPY_RLM_LOGFIRE_ENABLED',
      { LOGFIRE_PROJECT_NAME: 'my-proj' },
      { LOGFIRE_PROJECT_NAME: 'my-proj' },
    ],
  ];
  for (const [variable, sink, flag, extra, seen] of rows) {
    it(`${variable} reaches the ${sink} sink`, async () => {
      const on = await statusWith({ [flag]: 'true', ...extra });
      expect(on[sink]).toMatchObject({ enabled: true, available: true, seen });
      if (variable === flag) {
        for (const value of ['1', 'yes', 'ON'])
          expect((await statusWith({ [flag]: value }))[sink]).toMatchObject({ enabled: true });
        expect((await statusWith({ [flag]: 'false' }))[sink]).toMatchObject({ enabled: false });
      }
    });
  }

  it('an enabled sink that is not installed shows available: false and the install command', async () => {
    const status = await statusWith(
      {
        DSPY_RLM_MLFLOW_ENABLED: 'true',
        DSPY_RLM_OTEL_ENABLED: 'true',
        DSPY_RLM_LANGSMITH_ENABLED: 'true',
        DSPY_RLM_LANGFUSE_ENABLED: 'true',
        DSPY_RLM_LOGFIRE_ENABLED: 'true',
      },
      bare.dir,
    );
    for (const seed of SEED_SINKS) {
      expect(status[seed.sinkName], seed.sinkName).toMatchObject({
        enabled: true,
        available: false,
        detail: expect.stringContaining(`is not installed: pnpm add ${seed.packageName}`),
      });
    }
  });
});
