import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadObservability } from '@rlm/obs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { LangSmithSink, optionsSchema } from '../src/index.js';

const source = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * A project whose config names the sink `'langsmith'`: `@rlm/sink-langsmith` in its
 * node_modules forwards to this package's source (loaded through jiti, as the loader does).
 */
function project(files: Record<string, string>): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-langsmith-')));
  dirs.push(dir);
  const pkg = path.join(dir, 'node_modules/@rlm/sink-langsmith');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(
    path.join(pkg, 'package.json'),
    JSON.stringify({ name: '@rlm/sink-langsmith', type: 'module', exports: './index.ts' }),
  );
  fs.writeFileSync(
    path.join(pkg, 'index.ts'),
    `export * from ${JSON.stringify(source)};\nexport { default } from ${JSON.stringify(source)};\n`,
  );
  for (const [rel, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, rel), text);
  return dir;
}

function issues(value: unknown) {
  const result = optionsSchema['~standard'].validate(value);
  if (result instanceof Promise) throw new Error('sync expected');
  return result.issues?.map((i) => [i.message, (i.path ?? []).join('.')]) ?? [];
}

describe('optionsSchema', () => {
  it("the config loader names an unknown option's key and the option meant", async () => {
    const dir = project({
      'rlm-obs.config.json': JSON.stringify({ sinks: [['langsmith', { api_key: 'x' }]] }),
    });
    const loading = loadObservability({
      cwd: dir,
      env: {},
      overrides: { logger: false, flushOnExit: false },
    });
    await expect(loading).rejects.toThrow("unknown option 'api_key'; did you mean 'apiKey'?");
    await expect(loading).rejects.toThrow(
      `(${path.join(dir, 'rlm-obs.config.json')}, sinks[0].options.api_key)`,
    );
  });

  it('a .mjs config with every option, functions included, builds the sink', async () => {
    const dir = project({
      'rlm-obs.config.mjs': `export default { sinks: [['langsmith', {
        enabled: true, apiKey: 'lsv2_k', apiUrl: 'http://127.0.0.1:9', projectName: 'p',
        connectionCheck: false, maxIngestMemoryBytes: 1, maxQueuedBytes: 1024, maxOpenRuns: 5,
        timeoutMs: 1000, maxRetries: 0, name: 'ls',
        limits: { code: 1, output: 2, finalAnswer: 3, error: 4 },
        authCooldown: { initialMs: 1, maxMs: 2, jitter: 0, now: () => 0, random: () => 0.5 },
      }]] };`,
    });
    const obs = await loadObservability({
      cwd: dir,
      env: {},
      overrides: { logger: false, flushOnExit: false },
    });
    try {
      expect(obs.status().find((s) => s.name === 'ls')).toMatchObject({
        enabled: true,
        available: true,
        project_name: 'p',
      });
    } finally {
      await obs.shutdown({ timeoutMs: 1000 });
    }
  });

  it('limits: positive whole numbers for code, output, finalAnswer and error', () => {
    expect(issues({ limits: { code: 100, output: 200, finalAnswer: 300, error: 50 } })).toEqual([]);
    expect(
      issues({ limits: { code: 0, output: 1.5, finalAnswer: -1, error: '500', task: 10 } }),
    ).toEqual([
      ['must be a whole number > 0 (got 0)', 'limits.code'],
      ['must be a whole number > 0 (got 1.5)', 'limits.output'],
      ['must be a whole number > 0 (got -1)', 'limits.finalAnswer'],
      ['must be a whole number > 0 (got a string)', 'limits.error'],
      [expect.stringMatching(/^unknown option 'task'/), 'limits.task'],
    ]);
    // Given to the class directly, an unusable limit makes the sink say so.
    const direct = new LangSmithSink({ apiKey: 'k', connectionCheck: false, limits: { code: 0 } });
    expect(direct.status()).toMatchObject({
      available: false,
      detail: 'unavailable: limits.code must be a whole number > 0 (got 0)',
    });
    expect(issues({ limits: 500 })[0]).toEqual([
      'must be an object with code, output, finalAnswer, error (got 500)',
      'limits',
    ]);
  });

  it('wrong types are errors with the key; values pass through unchanged', () => {
    expect(
      issues({
        apiUrl: 'localhost:1984',
        projectName: '',
        timeoutMs: Number.POSITIVE_INFINITY,
        maxRetries: 1.5,
        connectionCheck: 'false',
        authCooldown: { now: 5 },
      }),
    ).toEqual([
      ['must be an http(s) URL', 'apiUrl'],
      ['must be a non-empty string (got an empty string)', 'projectName'],
      ['must be a finite number > 0 (got Infinity)', 'timeoutMs'],
      ['must be a whole number >= 0 (got 1.5)', 'maxRetries'],
      ['must be true or false (got a string)', 'connectionCheck'],
      ['must be a function (got 5)', 'authCooldown.now'],
    ]);
    const options = { apiKey: 'k', apiUrl: 'https://eu.api.smith.langchain.com', maxOpenRuns: 1 };
    expect(optionsSchema['~standard'].validate(options)).toEqual({ value: options });
    // what the factory builds from them
    expect(new LangSmithSink({ ...options, connectionCheck: false }).apiUrl).toBe(options.apiUrl);
  });
});
