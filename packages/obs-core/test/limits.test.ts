import { describe, expect, it } from 'vitest';
import { defineOptionsSchema } from '../src/config/options-schema.js';
import { contentLimitsOptions, readContentLimits } from '../src/limits.js';

const DEFAULTS = { task: 500, error: 200 } as const;

describe('content limits (a sink`s `limits` option)', () => {
  it('reads the given values over the defaults', () => {
    expect(readContentLimits(DEFAULTS, undefined)).toEqual({ limits: { task: 500, error: 200 } });
    expect(readContentLimits(DEFAULTS, { error: 50, task: undefined })).toEqual({
      limits: { task: 500, error: 50 },
    });
  });

  it('names what is wrong, never echoing a string', () => {
    expect(readContentLimits(DEFAULTS, { task: 0 })).toEqual({
      problem: 'limits.task must be a whole number > 0 (got 0)',
    });
    expect(readContentLimits(DEFAULTS, { error: 1.5 })).toEqual({
      problem: 'limits.error must be a whole number > 0 (got 1.5)',
    });
    expect(readContentLimits(DEFAULTS, { error: 'sk-secret' })).toEqual({
      problem: 'limits.error must be a whole number > 0 (got a string)',
    });
    expect(readContentLimits(DEFAULTS, { code: 5 })).toEqual({
      problem: "unknown limit 'code' (known: task, error)",
    });
    expect(readContentLimits(DEFAULTS, 500)).toEqual({
      problem: 'limits must be an object with task, error (got 500)',
    });
  });

  it('gives the option shape for a sink`s options schema', async () => {
    const schema = defineOptionsSchema({ limits: contentLimitsOptions(DEFAULTS) });
    const ok = await schema['~standard'].validate({ limits: { task: 10 } });
    expect(ok.issues).toBeUndefined();
    const bad = await schema['~standard'].validate({ limits: { task: 0, other: 1 } });
    expect(bad.issues?.map((i) => [i.message, i.path?.join('.')])).toEqual([
      ['must be a whole number > 0 (got 0)', 'limits.task'],
      [expect.stringMatching(/^unknown option 'other'/), 'limits.other'],
    ]);
  });
});
