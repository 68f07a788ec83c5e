/**
 * The `optionsSchema` the config loader checks a config's `mlflow` options with.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadObservability } from '@rlm/obs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { type MlflowSinkOptions, optionsSchema } from '../src/index.js';

const SOURCE = fileURLToPath(new URL('../src/index.ts', import.meta.url));

const projects: string[] = [];
afterEach(() => {
  for (const dir of projects.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * A project with `@rlm/sink-mlflow` installed (its sources) and a config file: the loader
 * finds the sink by its name, `mlflow`.
 */
function project(config: unknown): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-mlflow-config-')));
  projects.push(dir);
  const pkg = path.join(dir, 'node_modules', '@rlm', 'sink-mlflow');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(
    path.join(pkg, 'package.json'),
    JSON.stringify({
      name: '@rlm/sink-mlflow',
      version: '0.0.0',
      type: 'module',
      exports: { '.': './index.ts' },
    }),
  );
  fs.writeFileSync(
    path.join(pkg, 'index.ts'),
    `export * from ${JSON.stringify(SOURCE)};\nexport { default } from ${JSON.stringify(SOURCE)};\n`,
  );
  fs.writeFileSync(path.join(dir, 'rlm-obs.config.json'), JSON.stringify(config));
  return dir;
}

function issues(value: unknown): Array<[string, string]> {
  const result = optionsSchema['~standard'].validate(value);
  if (result instanceof Promise) throw new Error('sync expected');
  return (result.issues ?? []).map((i) => [i.message, (i.path ?? []).map(String).join('.')]);
}

describe('optionsSchema', () => {
  it("the config loader names a misspelt option's key and the right spelling", async () => {
    const dir = project({
      sinks: [['mlflow', { trackingURI: 'http://127.0.0.1:9', experiment: 'x' }]],
    });
    const loading = loadObservability({
      cwd: dir,
      env: {},
      overrides: { logger: false, flushOnExit: false },
    });
    await expect(loading).rejects.toThrow(/sinks\[0\]\.options\.trackingURI/);
    await expect(loading).rejects.toThrow(
      "unknown option 'trackingURI'; did you mean 'trackingUri'?",
    );
  });

  it('a correct config loads the sink with its options', async () => {
    const dir = project({
      sinks: [
        [
          'mlflow',
          {
            trackingUri: 'http://127.0.0.1:9',
            experiment: 'x',
            enabled: false,
            maxRetries: 0,
            authCooldown: { initialMs: 1000 },
          },
        ],
      ],
    });
    const obs = await loadObservability({
      cwd: dir,
      env: {},
      overrides: { logger: false, flushOnExit: false },
    });
    expect(obs.status()).toMatchObject([
      { name: 'mlflow', enabled: false, detail: 'disabled', experiment: 'x' },
    ]);
    await obs.shutdown({ timeoutMs: 1000 });
  });

  it('takes every option of MlflowSinkOptions, functions from a .mjs config included', () => {
    const every: Required<MlflowSinkOptions> = {
      enabled: true,
      trackingUri: 'https://user:pw@mlflow.example.com/prefix',
      experiment: 'exp',
      username: 'u',
      password: 'p',
      token: 't',
      timeoutMs: 5000,
      maxRetries: 0,
      maxQueueSize: Number.POSITIVE_INFINITY,
      maxPendingMetrics: 100,
      maxOpenRuns: 10,
      uploadArtifacts: false,
      name: 'mlflow-2',
      authCooldown: { initialMs: 0, maxMs: 1, jitter: 0, now: () => 0, random: () => 0.5 },
    };
    expect(issues(every)).toEqual([]);
    expect(issues(undefined)).toEqual([]);
  });

  it('a tracking URI the sink cannot use loads: the sink is unavailable and says why, the config works', async () => {
    const dir = project({ sinks: [['mlflow', { trackingUri: './mlruns' }]] });
    const obs = await loadObservability({
      cwd: dir,
      env: {},
      overrides: { logger: false, flushOnExit: false },
    });
    const [status] = obs.status();
    expect(status).toMatchObject({ name: 'mlflow', available: false });
    expect(status!.detail).toMatch(/local MLflow file store/);
    await obs.shutdown();
  });

  it('wrong values name the key and never echo a string value', () => {
    expect(
      issues({
        trackingUri: 42,
        experiment: '',
        password: 42,
        timeoutMs: Number.POSITIVE_INFINITY,
        maxRetries: 1.5,
        uploadArtifacts: 'yes',
        authCooldown: { now: 5, initialMS: 1 },
      }),
    ).toEqual([
      ['must be a non-empty string (got 42)', 'trackingUri'],
      ['must be a non-empty string (got an empty string)', 'experiment'],
      ['must be a string (got 42)', 'password'],
      ['must be a finite number > 0 (got Infinity)', 'timeoutMs'],
      ['must be a whole number >= 0 (got 1.5)', 'maxRetries'],
      ['must be true or false (got a string)', 'uploadArtifacts'],
      ['must be a function (got 5)', 'authCooldown.now'],
      [
        "unknown option 'initialMS'; did you mean 'initialMs'? Known options: initialMs, maxMs, jitter, now, random",
        'authCooldown.initialMS',
      ],
    ]);
    // A URI the sink cannot use is the sink's problem (unavailable, with the fix in its status),
    // not the whole config's: MLFLOW_TRACKING_URI is shared with other MLflow tools.
    for (const trackingUri of ['./mlruns', 'databricks', 'sqlite:///mlflow.db', 'localhost:5000'])
      expect(issues({ trackingUri })).toEqual([]);
  });
});
