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

describe('logfire options in a config file', () => {
  it('a misspelt option is an error naming sinks[0].options.<key> and the option meant (every real option accepted)', async () => {
    const { file, loading } = load(
      JSON.stringify({ sinks: [[index, { token: 'x', projectname: 'p' }]] }),
    );
    await expect(loading).rejects.toThrow(
      `invalid options for sink '${index}': unknown option 'projectname'; did you mean 'projectName'?`,
    );
    await expect(loading).rejects.toThrow(`(${file}, sinks[0].options.projectname)`);

    // Every real option is accepted, objects and functions from a .mjs config too.
    const accepted = load(
      `export default { sinks: [[${JSON.stringify(index)}, {
        enabled: true, token: 'pylf_v1_us_x', projectName: 'p', baseUrl: 'http://127.0.0.1:9',
        serviceName: 's', environment: 'e', useGlobalProvider: false, tags: ['a'],
        exportTimeoutMs: 1000, maxQueueSize: 10, scheduledDelayMs: 0, maxOpenRuns: 5,
        spanExporter: { export(spans, done) { done({ code: 0 }); }, shutdown: async () => {} },
        authCooldown: { initialMs: 1, maxMs: 2, jitter: 0, now: () => 0, random: () => 0.5 },
        name: 'lf', credentialsDir: '.', limits: { task: 50, error: 100, scoreText: 300 },
      }]] };`,
      'rlm-obs.config.mjs',
    );
    const obs = await accepted.loading;
    expect(obs.status()[0]).toMatchObject({ name: 'lf', available: true });
    await obs.shutdown();
  });

  it('a wrong type is an error naming the key (nested ones too)', async () => {
    for (const [options, key, message] of [
      [{ tags: 'rlm' }, 'tags', 'must be a list of strings'],
      [{ maxQueueSize: 0 }, 'maxQueueSize', 'must be a whole number >= 1'],
      [{ authCooldown: { initialMS: 1 } }, 'authCooldown.initialMS', "did you mean 'initialMs'?"],
      [{ limits: { task: 0 } }, 'limits.task', 'must be a whole number > 0 (got 0)'],
      [{ limits: { error: 2.5 } }, 'limits.error', 'must be a whole number > 0 (got 2.5)'],
      [
        { limits: { scoreText: '100' } },
        'limits.scoreText',
        'must be a whole number > 0 (got a string)',
      ],
      [{ limits: { text: 100 } }, 'limits.text', 'unknown option'],
      [{ limits: 100 }, 'limits', 'must be an object'],
    ] as const) {
      const { loading } = load(JSON.stringify({ sinks: [[index, options]] }));
      await expect(loading).rejects.toThrow(message);
      await expect(loading).rejects.toThrow(`sinks[0].options.${key})`);
    }
  });

  it('is a Standard Schema that passes values through unchanged', () => {
    const options = { token: 't', tags: ['x'] };
    expect(optionsSchema['~standard'].validate(options)).toEqual({ value: options });
  });
});
