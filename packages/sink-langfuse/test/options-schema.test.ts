import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadObservability } from '@rlm/obs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { makeProject } from '../../obs-core/test/config/project.js';
import { optionsSchema } from '../src/index.js';

const index = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const projects: Array<{ remove: () => void }> = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.remove();
});

function load(config: string, file = 'rlm-obs.config.json') {
  const p = makeProject({ [file]: config });
  projects.push(p);
  return {
    file: path.join(p.dir, file),
    loading: loadObservability({
      cwd: p.dir,
      env: {},
      overrides: { logger: false, flushOnExit: false },
    }),
  };
}

describe('langfuse options in a config file', () => {
  it('a misspelt option is an error naming sinks[0].options.<key> and the option meant (every real option accepted), without the secret', async () => {
    const { file, loading } = load(
      JSON.stringify({
        sinks: [
          [index, { publicKEY: 'pk-lf-1', secretKey: 'sk-lf-do-not-show', authCheck: false }],
        ],
      }),
    );
    await expect(loading).rejects.toThrow(
      `invalid options for sink '${index}': unknown option 'publicKEY'; did you mean 'publicKey'?`,
    );
    await expect(loading).rejects.toThrow(`(${file}, sinks[0].options.publicKEY)`);
    await expect(loading).rejects.not.toThrow('sk-lf-do-not-show');

    // Every real option is accepted, objects and functions from a .mjs config too.
    const accepted = load(
      `export default { sinks: [[${JSON.stringify(index)}, {
        enabled: true, publicKey: 'pk-lf-1', secretKey: 'sk-lf-1', baseUrl: 'http://127.0.0.1:9',
        environment: 'e', authCheck: false, flushAt: 10, flushIntervalSeconds: 0.5,
        timeoutSeconds: 2, maxOpenRuns: 5,
        limits: { code: 1000, output: 1000, finalAnswer: 2000, error: 300, score: 100 },
        spanExporter: { export(spans, done) { done({ code: 0 }); }, shutdown: async () => {} },
        authCooldown: { initialMs: 1, maxMs: 2, jitter: 0, now: () => 0, random: () => 0.5 },
        name: 'lf',
      }]] };`,
      'rlm-obs.config.mjs',
    );
    const obs = await accepted.loading;
    expect(obs.status()[0]).toMatchObject({ name: 'lf', available: true });
    await obs.shutdown();
  });

  it('a wrong type is an error naming the key (nested ones too)', async () => {
    for (const [options, key, message] of [
      [{ timeoutSeconds: '10' }, 'timeoutSeconds', 'must be a finite number > 0'],
      [{ authCheck: 'false' }, 'authCheck', 'must be true or false'],
      [{ authCooldown: { maxMS: 1 } }, 'authCooldown.maxMS', "did you mean 'maxMs'?"],
      [{ limits: { code: 0 } }, 'limits.code', 'must be a whole number > 0 (got 0)'],
      [{ limits: { output: 1.5 } }, 'limits.output', 'must be a whole number > 0 (got 1.5)'],
      [{ limits: { finalanswer: 9 } }, 'limits.finalanswer', "did you mean 'finalAnswer'?"],
      [{ limits: 500 }, 'limits', 'must be an object with code, output, finalAnswer'],
    ] as const) {
      const { loading } = load(JSON.stringify({ sinks: [[index, options]] }));
      await expect(loading).rejects.toThrow(message);
      await expect(loading).rejects.toThrow(`sinks[0].options.${key})`);
    }
  });

  it('is a Standard Schema that passes values through unchanged', () => {
    const options = { publicKey: 'pk', secretKey: 'sk' };
    expect(optionsSchema['~standard'].validate(options)).toEqual({ value: options });
  });
});
