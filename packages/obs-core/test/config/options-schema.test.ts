import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadObservability } from '../../src/config/load-observability.js';
import { defineOptionsSchema } from '../../src/config/options-schema.js';
import { makeProject } from './project.js';

const projects: Array<{ remove: () => void }> = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.remove();
});

const schema = defineOptionsSchema({
  dir: 'nonEmptyString',
  enabled: 'boolean',
  headers: 'stringRecord',
  port: 'count',
  timeoutMs: 'positiveNumber',
  client: ['object', 'function'],
  protocol: (v) => (v === 'grpc' || v === 'http' ? undefined : "must be 'grpc' or 'http'"),
  retention: { maxAgeDays: 'nonNegativeNumber', maxTotalBytes: 'nonNegativeNumber' },
});

function issues(value: unknown) {
  const result = schema['~standard'].validate(value);
  if (result instanceof Promise) throw new Error('sync expected');
  return result.issues?.map((i) => [i.message, (i.path ?? []).join('.')]) ?? [];
}

describe('defineOptionsSchema', () => {
  it('passes known options through unchanged, and no options at all', () => {
    const options = { dir: 'x', port: 0, timeoutMs: Infinity, client: () => 1, retention: {} };
    const result = schema['~standard'].validate(options);
    expect(result).toEqual({ value: options });
    expect(schema['~standard'].validate(undefined)).toEqual({ value: {} });
  });

  it('names an unknown option with the closest known one', () => {
    expect(issues({ directory: '/x' })).toEqual([
      [
        "unknown option 'directory'; did you mean 'dir'? Known options: dir, enabled, headers, port, timeoutMs, client, protocol, retention",
        'directory',
      ],
    ]);
  });

  it('reports wrong kinds with the nested path, and never echoes a string value', () => {
    expect(
      issues({
        dir: '',
        enabled: 'false',
        headers: { authorization: 42 },
        port: 1.5,
        timeoutMs: 0,
        client: null,
        protocol: 'udp',
        retention: { maxAgeDays: '7', maxTotalByte: 1 },
      }),
    ).toEqual([
      ['must be a non-empty string (got an empty string)', 'dir'],
      ['must be true or false (got a string)', 'enabled'],
      ['must be an object of strings (got an object)', 'headers'],
      ['must be a whole number >= 0 (got 1.5)', 'port'],
      ['must be a number > 0 (got 0)', 'timeoutMs'],
      ['must be an object or a function (got null)', 'client'],
      ["must be 'grpc' or 'http'", 'protocol'],
      ['must be a number >= 0 (got a string)', 'retention.maxAgeDays'],
      [
        "unknown option 'maxTotalByte'; did you mean 'maxTotalBytes'? Known options: maxAgeDays, maxTotalBytes",
        'retention.maxTotalByte',
      ],
    ]);
    expect(issues({ retention: 5 })).toEqual([
      ['must be an object with maxAgeDays, maxTotalBytes (got 5)', 'retention'],
    ]);
  });

  it('gives the config loader the key path of the wrong option', async () => {
    const p = makeProject({
      'my-sink.mjs': `
import { defineOptionsSchema } from ${JSON.stringify(path.resolve('packages/obs-core/src/config/options-schema.ts'))};
export const optionsSchema = defineOptionsSchema({ retention: { maxAgeDays: 'nonNegativeNumber' } });
export function createSink() { return { name: 'mine', onRunStart() {}, onStep() {}, onRunEnd() {} }; }
`,
      'rlm-obs.config.json': JSON.stringify({
        sinks: [['./my-sink.mjs', { retention: { maxAgeDays: '7' } }]],
      }),
    });
    projects.push(p);
    await expect(
      loadObservability({ cwd: p.dir, env: {}, overrides: { logger: false, flushOnExit: false } }),
    ).rejects.toThrow(
      `invalid options for sink './my-sink.mjs': must be a number >= 0 (got a string) (${path.join(p.dir, 'rlm-obs.config.json')}, sinks[0].options.retention.maxAgeDays)`,
    );
  });
});
