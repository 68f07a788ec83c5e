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

/** A package with this index.js (and nothing else). */
function rawPackage(name: string, index: string): Record<string, string> {
  return {
    [`node_modules/${name}/package.json`]: JSON.stringify({
      name,
      version: '1.0.0',
      type: 'module',
      exports: { '.': './index.js' },
      keywords: ['rlm-obs-sink'],
    }),
    [`node_modules/${name}/index.js`]: index,
  };
}

/** A project with the real local JSONL sink and these packages. */
function projectWith(...packages: Array<Record<string, string>>) {
  const p = makeProject({ 'pnpm-lock.yaml': '' });
  for (const files of packages) for (const [rel, text] of Object.entries(files)) p.write(rel, text);
  const scope = path.join(p.dir, 'node_modules', '@rlm');
  fs.mkdirSync(scope, { recursive: true });
  fs.symlinkSync(path.resolve(__dirname, '../../../sink-jsonl'), path.join(scope, 'sink-jsonl'));
  return p;
}

/** `@rlm/sink-otel` installed, but its index imports a package that is missing. */
const brokenOtel = rawPackage(
  '@rlm/sink-otel',
  `import 'rlm-obs-missing-dependency-xyz';
globalThis.__rlmObsImported = [...(globalThis.__rlmObsImported ?? []), '@rlm/sink-otel'];
export function fromEnv() { throw new Error('unreachable'); }`,
);

const runOnce = (obs: Awaited<ReturnType<typeof loadObservability>>) => {
  obs.onRunStart('r1', { task: 't', environment: 'e', params: {} });
  obs.onStep('r1', { event: { step: 1, reward: 1 }, cumulativeReward: 1 });
  obs.onRunEnd('r1', { result: { completed: true, steps: 1, totalReward: 1 } });
};

const cleanupLater: Array<() => void> = [];
afterAll(() => {
  for (const cleanup of cleanupLater) cleanup();
});

describe('env activation: a failing sink never stops the others (seed 001, seed 004)', () => {
  it('an installed sink package that fails to import: disabled it is just disabled, enabled it says why; the local files still record', async () => {
    const p = projectWith(brokenOtel);
    try {
      const jsonlDir = path.join(p.dir, 'obs');
      for (const env of [{}, { DSPY_RLM_OTEL_ENABLED: 'true' }]) {
        const obs = await loadObservability({
          cwd: p.dir,
          env: { RLM_OBS_JSONL_DIR: jsonlDir, ...env },
          overrides: { flushOnExit: false, logger: false },
        });
        const status = Object.fromEntries(obs.status().map((s) => [s.name, s]));
        expect(status['local-jsonl']).toMatchObject({ enabled: true, available: true });
        if ('DSPY_RLM_OTEL_ENABLED' in env) {
          expect(status.opentelemetry).toMatchObject({ enabled: true, available: false });
          expect(status.opentelemetry?.detail).toMatch(
            /^failed to load: Cannot find package 'rlm-obs-missing-dependency-xyz'/,
          );
        } else {
          expect(status.opentelemetry).toMatchObject({
            enabled: false,
            available: false,
            detail: 'disabled',
          });
        }
        runOnce(obs);
        const report = await obs.shutdown();
        const local = report.sinks.find((s) => s.name === 'local-jsonl');
        expect(local).toMatchObject({ ok: true, failed: 0 });
        expect(local?.delivered).toBeGreaterThanOrEqual(3);
      }
      expect(fs.readdirSync(jsonlDir).length).toBeGreaterThan(0);
    } finally {
      p.remove();
    }
  });

  it('does not even import the package of a disabled sink', async () => {
    const g = globalThis as { __rlmObsImported?: string[] };
    g.__rlmObsImported = [];
    const p = projectWith(
      rawPackage(
        '@rlm/sink-langfuse',
        `globalThis.__rlmObsImported.push('@rlm/sink-langfuse');
export function fromEnv() { return { name: 'langfuse', status: () => ({ name: 'langfuse', enabled: false, available: false, detail: 'disabled' }), onRunStart() {}, onStep() {}, onRunEnd() {} }; }`,
      ),
    );
    try {
      const obs = await loadObservability({
        cwd: p.dir,
        env: { RLM_OBS_JSONL_DIR: path.join(p.dir, 'obs') },
        overrides: { flushOnExit: false, logger: false },
      });
      expect(obs.status().find((s) => s.name === 'langfuse')).toMatchObject({ detail: 'disabled' });
      await obs.shutdown();
      expect(g.__rlmObsImported).toEqual([]);
    } finally {
      p.remove();
    }
  });

  it('an enabled sink whose fromEnv throws: a placeholder saying why (no secret), the sinks before and after it keep recording, and none was shut down', async () => {
    const g = globalThis as { __rlmObsFakeCalls?: unknown[][] };
    g.__rlmObsFakeCalls ??= [];
    const calls = g.__rlmObsFakeCalls;
    calls.length = 0;
    const p = projectWith(
      fakeSeedPackage('@rlm/sink-mlflow', 'mlflow', 'DSPY_RLM_MLFLOW_ENABLED', []),
      rawPackage(
        '@rlm/sink-otel',
        'export function fromEnv(env) { throw new Error(`cannot reach ${env.OTEL_EXPORTER_OTLP_ENDPOINT} with ${env.LANGCHAIN_API_KEY}`); }',
      ),
      fakeSeedPackage('@rlm/sink-langsmith', 'langsmith', 'DSPY_RLM_LANGSMITH_ENABLED', []),
    );
    const warnings: string[] = [];
    try {
      const obs = await loadObservability({
        cwd: p.dir,
        env: {
          RLM_OBS_JSONL_DIR: path.join(p.dir, 'obs'),
          DSPY_RLM_MLFLOW_ENABLED: 'true',
          DSPY_RLM_OTEL_ENABLED: 'true',
          DSPY_RLM_LANGSMITH_ENABLED: 'true',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:hunter2-secret@collector.example',
          LANGCHAIN_API_KEY: 'lsv2_pt_0123456789abcdef',
        },
        logger: { warn: (m) => warnings.push(m) },
        overrides: { flushOnExit: false },
      });
      const status = Object.fromEntries(obs.status().map((s) => [s.name, s]));
      expect(status.opentelemetry).toMatchObject({ enabled: true, available: false });
      expect(status.opentelemetry?.detail).toMatch(/^failed to load: cannot reach https:\/\//);
      const text = JSON.stringify(status) + warnings.join('\n');
      expect(text).not.toContain('hunter2-secret');
      expect(text).not.toContain('lsv2_pt_0123456789abcdef');
      expect(warnings.join('\n')).toMatch(
        /sink 'opentelemetry' \(@rlm\/sink-otel, DSPY_RLM_OTEL_ENABLED\) failed to load/,
      );
      expect(calls.filter((c) => c[1] === 'shutdown')).toEqual([]);
      runOnce(obs);
      expect(calls.filter((c) => c[1] === 'step').map((c) => c[0])).toEqual([
        'mlflow',
        'langsmith',
      ]);
      const report = await obs.shutdown();
      expect(report.ok).toBe(false);
      expect(report.sinks.find((s) => s.name === 'opentelemetry')).toMatchObject({
        ok: false,
        delivered: 0,
        error: status.opentelemetry?.detail,
      });
    } finally {
      p.remove();
    }
  });

  it('the not-installed detail names only the package env activation looks for', async () => {
    const status = await statusWith({ DSPY_RLM_OTEL_ENABLED: 'true' }, bare.dir);
    expect(status.opentelemetry?.detail).toBe(
      "sink 'otel' is not installed: pnpm add @rlm/sink-otel",
    );
  });

  it('disabled and not-installed sinks get no events: counters stay 0; in flush reports a disabled one is ok, an enabled missing one is not', async () => {
    const p = projectWith();
    cleanupLater.push(p.remove);
    const obs = await loadObservability({
      cwd: p.dir,
      env: { RLM_OBS_JSONL_DIR: path.join(p.dir, 'obs'), DSPY_RLM_OTEL_ENABLED: 'true' },
      overrides: { flushOnExit: false, logger: false },
    });
    runOnce(obs);
    const status = Object.fromEntries(obs.status().map((s) => [s.name, s]));
    const local = status['local-jsonl']?.counters.delivered ?? 0;
    expect(local).toBeGreaterThanOrEqual(3);
    for (const name of ['mlflow', 'opentelemetry', 'langsmith'])
      expect(status[name]?.counters, name).toMatchObject({ delivered: 0, dropped: 0, failed: 0 });
    const flushed = await obs.flush();
    expect(flushed.ok).toBe(false);
    const byName = Object.fromEntries(flushed.sinks.map((s) => [s.name, s]));
    expect(byName.mlflow).toMatchObject({ ok: true, delivered: 0 });
    expect(byName.opentelemetry).toMatchObject({
      ok: false,
      delivered: 0,
      error: "sink 'otel' is not installed: pnpm add @rlm/sink-otel",
    });
    expect(byName['local-jsonl']).toMatchObject({ ok: true, delivered: local });
    await obs.shutdown();
  });

  it('builds the enabled sinks concurrently: three fromEnv that take 300 ms each load in well under 900 ms', async () => {
    const slow = (pkg: string, name: string) =>
      rawPackage(
        pkg,
        `export async function fromEnv() {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { name: ${JSON.stringify(name)}, status: () => ({ name: ${JSON.stringify(name)}, enabled: true, available: true, detail: 'slow' }), onRunStart() {}, onStep() {}, onRunEnd() {} };
}`,
      );
    const p = projectWith(
      slow('@rlm/sink-mlflow', 'mlflow'),
      slow('@rlm/sink-langsmith', 'langsmith'),
      slow('@rlm/sink-langfuse', 'langfuse'),
    );
    try {
      const started = performance.now();
      const obs = await loadObservability({
        cwd: p.dir,
        env: {
          RLM_OBS_JSONL_DIR: path.join(p.dir, 'obs'),
          DSPY_RLM_MLFLOW_ENABLED: 'true',
          DSPY_RLM_LANGSMITH_ENABLED: 'true',
          DSPY_RLM_LANGFUSE_ENABLED: 'true',
        },
        overrides: { flushOnExit: false, logger: false },
      });
      const took = performance.now() - started;
      // the seed's order is kept
      expect(obs.status().map((s) => s.name)).toEqual([
        'local-jsonl',
        'mlflow',
        'opentelemetry',
        'langsmith',
        'langfuse',
        'logfire',
      ]);
      expect(took).toBeLessThan((2 / 3) * 900);
      await obs.shutdown();
    } finally {
      p.remove();
    }
  });

  it('RLM_OBS_WORKER=1: a sink that fails to load in the worker is a placeholder there too; the others keep recording', async () => {
    const p = projectWith(brokenOtel);
    try {
      const jsonlDir = path.join(p.dir, 'obs');
      const warnings: string[] = [];
      const obs = await loadObservability({
        cwd: p.dir,
        env: { RLM_OBS_JSONL_DIR: jsonlDir, RLM_OBS_WORKER: '1', DSPY_RLM_OTEL_ENABLED: 'true' },
        logger: { warn: (message: string) => void warnings.push(message) },
        overrides: {
          flushOnExit: false,
          logger: { warn: (message: string) => void warnings.push(message) },
        },
      });
      const status = Object.fromEntries(obs.status().map((s) => [s.name, s]));
      expect(status.opentelemetry).toMatchObject({ enabled: true, available: false });
      expect(status.opentelemetry?.detail).toMatch(
        /^failed to load: Cannot find package 'rlm-obs-missing-dependency-xyz'/,
      );
      runOnce(obs);
      const report = await obs.shutdown();
      const byName = Object.fromEntries(report.sinks.map((s) => [s.name, s]));
      expect(byName['local-jsonl']).toMatchObject({ ok: true, failed: 0 });
      expect(byName['local-jsonl']?.delivered).toBeGreaterThanOrEqual(3);
      expect(byName.opentelemetry).toMatchObject({ ok: false, delivered: 0, dropped: 0 });
      expect(byName.opentelemetry?.error).toMatch(/^failed to load: Cannot find package/);
      // Said once, as in the application's thread: no flush or shutdown failure on top.
      expect(warnings.filter((w) => /flush failed|shutdown failed/.test(w))).toEqual([]);
      expect(warnings.filter((w) => /failed to load/.test(w)).length).toBeGreaterThanOrEqual(1);
    } finally {
      p.remove();
    }
  });
});
