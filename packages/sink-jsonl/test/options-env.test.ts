/**
 * Where the sink's settings come from: the options, then (with the config loader's context or
 * through `createJsonlSinkFromEnv`) the environment, then the defaults — the same rule
 * `rlm-obs` uses to find the files. And the options schema the config loader checks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadObservability, loadObservabilityDetailed, silentLogger } from '@rlm/obs-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createJsonlSinkFromEnv,
  createSink,
  LocalJSONLSink,
  optionsSchema,
  resolveJsonlSinkOptions,
} from '../src/index.js';
import { tempDir } from './helpers.js';

/** The CLI's directory: the config loader finds `jsonl` (the built dist/) from there. */
const CLI_DIR = fileURLToPath(new URL('../../obs-cli/', import.meta.url));

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function dir(): string {
  const t = tempDir('rlm-obs-jsonl-env-');
  cleanups.push(t.remove);
  return fs.realpathSync(t.dir);
}

const quiet = { overrides: { logger: false as const, flushOnExit: false } };

describe('createSink (the config loader’s factory) reads its context’s environment', () => {
  it('takes RLM_OBS_JSONL_DIR and the retention env vars for what the options leave unset', async () => {
    const base = dir();
    const env = {
      RLM_OBS_JSONL_DIR: path.join(base, 'from-env'),
      RLM_OBS_JSONL_MAX_STEP_FILE_BYTES: '1000',
      RLM_OBS_JSONL_MAX_AGE_DAYS: '7',
    };
    const context = { configDir: path.join(base, 'project'), env, logger: silentLogger };
    const sink = createSink({}, context);
    expect(sink.dir).toBe(path.join(base, 'from-env'));
    expect(sink.retention).toEqual({ maxStepFileBytes: 1000, maxAgeDays: 7 });
    expect(sink.status()).toMatchObject({ enabled: true, detail: path.join(base, 'from-env') });
    await sink.shutdown();
    // Options win, key by key; a relative dir option is relative to the config file.
    const own = createSink({ dir: 'obs', retention: { maxAgeDays: 2 } }, context);
    expect(own.dir).toBe(path.join(base, 'project', 'obs'));
    expect(own.retention).toEqual({ maxStepFileBytes: 1000, maxAgeDays: 2 });
    await own.shutdown();
    // The switches too: DSPY_RLM_OBS_LOCAL_JSONL=false turns it off unless the options say on.
    const off = { ...context, env: { ...env, DSPY_RLM_OBS_LOCAL_JSONL: 'false' } };
    expect(createSink({}, off).enabled).toBe(false);
    expect(createSink({ enabled: true }, off).enabled).toBe(true);
    // Without a context, only the options count.
    expect(new LocalJSONLSink({ dir: path.join(base, 'plain') }).retention).toEqual({});
  });

  it('with a config file listing jsonl, loadObservability writes where RLM_OBS_JSONL_DIR says', async () => {
    const base = dir();
    const project = path.join(base, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, 'rlm-obs.config.json'),
      JSON.stringify({ sinks: ['jsonl'] }),
    );
    const envDir = path.join(base, 'env-dir');
    const { obs, config } = await loadObservabilityDetailed({
      ...quiet,
      cwd: project,
      env: { RLM_OBS_JSONL_DIR: envDir, RLM_OBS_JSONL_MAX_STEP_FILE_BYTES: '1000' },
      fallbackDirs: [CLI_DIR],
    });
    expect(config?.file).toBe(path.join(project, 'rlm-obs.config.json'));
    const sink = obs.getSink('local-jsonl') as LocalJSONLSink;
    expect(sink.dir).toBe(envDir);
    expect(sink.retention).toEqual({ maxStepFileBytes: 1000 });
    const run = obs.startRun({ task: 't', environment: 'e' });
    run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
    run.end({ completed: true });
    await obs.shutdown();
    expect(fs.readFileSync(path.join(envDir, 'runs.jsonl'), 'utf8')).toContain(run.id);
    expect(fs.existsSync(path.join(project, '.rlm_code'))).toBe(false);
    // The same rule tells a reader where the files are.
    expect(
      resolveJsonlSinkOptions({}, { env: { RLM_OBS_JSONL_DIR: envDir }, configDir: project }).dir,
    ).toBe(envDir);
  });
});

describe('createJsonlSinkFromEnv: options win over the env vars', () => {
  it('enabled: false gives a disabled sink that creates no directory', async () => {
    const base = dir();
    const sink = createJsonlSinkFromEnv({}, { dir: path.join(base, 'off'), enabled: false });
    expect(sink.enabled).toBe(false);
    sink.onRunStart('r', { task: 't', environment: 'e', params: {} });
    await sink.shutdown();
    expect(fs.existsSync(path.join(base, 'off'))).toBe(false);
    const on = createJsonlSinkFromEnv(
      { DSPY_RLM_OBS_LOCAL_JSONL: 'false' },
      { dir: path.join(base, 'on'), enabled: true },
    );
    expect(on.enabled).toBe(true);
    await on.shutdown();
    expect(fs.existsSync(path.join(base, 'on', 'steps'))).toBe(true);
  });
});

describe('status of a disabled sink', () => {
  it('is available=False, detail=disabled, as in seed 001', async () => {
    const base = dir();
    for (const sink of [
      new LocalJSONLSink({ dir: path.join(base, 'a'), enabled: false }),
      createJsonlSinkFromEnv({ DSPY_RLM_OBS_LOCAL_JSONL: 'false', RLM_OBS_JSONL_DIR: base }),
      createJsonlSinkFromEnv({ DSPY_RLM_OBS_ENABLED: 'false', RLM_OBS_JSONL_DIR: base }),
    ]) {
      expect(sink.status()).toMatchObject({
        name: 'local-jsonl',
        enabled: false,
        available: false,
        detail: 'disabled',
      });
      await sink.shutdown();
    }
  });
});

describe('options are checked', () => {
  it('a wrong retention value in a config file is a config error naming the key', async () => {
    const base = dir();
    fs.writeFileSync(
      path.join(base, 'rlm-obs.config.json'),
      JSON.stringify({ sinks: [['jsonl', { retention: { maxAgeDays: '7' } }]] }),
    );
    await expect(
      loadObservability({ ...quiet, cwd: base, env: {}, fallbackDirs: [CLI_DIR] }),
    ).rejects.toThrow(
      `invalid options for sink 'jsonl': must be a number >= 0 (got a string) (${path.join(base, 'rlm-obs.config.json')}, sinks[0].options.retention.maxAgeDays)`,
    );
    fs.writeFileSync(
      path.join(base, 'rlm-obs.config.json'),
      JSON.stringify({ sinks: [{ use: 'jsonl', options: { directory: 'x' } }] }),
    );
    await expect(
      loadObservability({ ...quiet, cwd: base, env: {}, fallbackDirs: [CLI_DIR] }),
    ).rejects.toThrow(
      /unknown option 'directory'; did you mean 'dir'\?.*sinks\[0\]\.options\.directory/,
    );
  });

  it('the schema covers every option, nested retention included', async () => {
    const validate = (value: unknown) => optionsSchema['~standard'].validate(value);
    const every = {
      dir: 'obs',
      enabled: false,
      name: 'mine',
      maxOpenFiles: 8,
      writeDelayMs: 0,
      maxBufferedBytes: 1 << 20,
      maxTrackedRuns: 10,
      retention: { maxTotalBytes: 1e9, maxAgeDays: 7, maxStepFileBytes: 0, checkIntervalMs: 1000 },
    };
    expect(await validate(every)).toEqual({ value: every });
    expect(await validate({ retention: { maxAgeDays: Infinity } })).not.toHaveProperty('issues');
    for (const [bad, at] of [
      [{ retention: { maxAgeDays: '7' } }, ['retention', 'maxAgeDays']],
      [{ retention: { maxTotalBytes: -1 } }, ['retention', 'maxTotalBytes']],
      [{ retention: { maxStepFileBytes: '1000' } }, ['retention', 'maxStepFileBytes']],
      [{ retention: 7 }, ['retention']],
      [{ enabled: 'false' }, ['enabled']],
      [{ dir: 3 }, ['dir']],
      [{ writeDelayMs: '100' }, ['writeDelayMs']],
    ] as const) {
      const result = (await validate(bad)) as { issues?: Array<{ path: unknown }> };
      expect(result.issues?.[0]?.path, JSON.stringify(bad)).toEqual(at);
    }
  });

  it('built in code, a retention value that is not a number is a TypeError (never dropped)', () => {
    const base = dir();
    for (const retention of [
      { maxAgeDays: '7' },
      { maxTotalBytes: Number.NaN },
      { maxStepFileBytes: -5 },
    ])
      expect(
        () => new LocalJSONLSink({ dir: base, retention: retention as never }),
        JSON.stringify(retention),
      ).toThrow(TypeError);
    expect(
      () => new LocalJSONLSink({ dir: base, retention: { maxAgeDays: '7' } as never }),
    ).toThrow('local-jsonl: retention.maxAgeDays must be a number >= 0 (got a string)');
    expect(() => createSink({ dir: base, retention: 5 as never })).toThrow(
      /retention option must be an object/,
    );
    // 0 (and Infinity) still mean no limit.
    expect(new LocalJSONLSink({ dir: base, retention: { maxAgeDays: 0 } }).retention).toEqual({});
  });
});
