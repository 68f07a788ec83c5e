/**
 * Bad input end to end (issue 2, "Bad input, one test each"): each kind of hostile value goes
 * through the coordinator (`RLMObservability`, its run API and its raw hooks) into the jsonl
 * sink, and straight into a second jsonl sink without the coordinator. No throw reaches the
 * caller, every line of every file is valid JSON with the Python field types, no file
 * appears outside the base directories, and what the reader rebuilds is sensible.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { describe, expect, it } from 'vitest';
import { createJsonlSink, openJsonlStore } from '../src/index.js';
import { listFiles, quiet, readLines, useTempDirs } from './helpers.js';

const dir = useTempDirs();

/** A temp root with the coordinator's base dir and the direct sink's dir three levels down. */
function layout(): { root: string; base: string; direct: string } {
  const root = dir();
  return {
    root,
    base: path.join(root, 'l1', 'l2', 'l3', 'base'),
    direct: path.join(root, 'l1', 'l2', 'l3', 'direct'),
  };
}

/**
 * Every file under `root` is inside `base` or `direct`, and every line of each one parses;
 * the Python fields keep their types. Returns the number of lines read.
 */
function checkFiles(root: string): number {
  const files = listFiles(root);
  expect(files.length).toBeGreaterThan(0);
  let lines = 0;
  for (const file of files) {
    const inside = ['base', 'direct'].some((b) =>
      file.startsWith(`${path.join('l1', 'l2', 'l3', b)}${path.sep}`),
    );
    expect(inside, `file outside the base directories: ${file}`).toBe(true);
    // steps/<file> only: nothing nested deeper, nothing hidden.
    const rel = file.split(path.sep).slice(4);
    expect(rel.length === 1 || (rel.length === 2 && rel[0] === 'steps'), file).toBe(true);
    expect(rel.at(-1)!, file).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._~-]*\.jsonl$/);
    const records = readLines(path.join(root, file));
    lines += records.length;
    for (const r of records) checkTypes(rel, r);
  }
  return lines;
}

const numOrNull = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v));

/** The Python fields of each file keep their names and types. */
function checkTypes(rel: string[], r: Record<string, any>): void {
  expect(typeof r.timestamp).toBe('string');
  expect(typeof r.run_id).toBe('string');
  if (rel[0] === 'steps') {
    expect(numOrNull(r.step), JSON.stringify(r.step)).toBe(true);
    expect(r.action === null || typeof r.action === 'string').toBe(true);
    expect(numOrNull(r.reward)).toBe(true);
    expect(typeof r.cumulative_reward === 'number' && Number.isFinite(r.cumulative_reward)).toBe(
      true,
    );
    expect([true, false, null]).toContain(r.success);
    expect(typeof r.event === 'object' && r.event !== null && !Array.isArray(r.event)).toBe(true);
  } else if (rel[0] === 'runs.jsonl') {
    for (const key of ['task', 'environment', 'run_path'])
      expect(typeof r[key], key).toBe('string');
    expect(typeof r.params === 'object' && r.params !== null && !Array.isArray(r.params)).toBe(
      true,
    );
    expect(typeof r.completed).toBe('boolean');
    for (const key of ['steps', 'step_count_observed'])
      expect(Number.isInteger(r[key]), key).toBe(true);
    expect(typeof r.total_reward === 'number' && Number.isFinite(r.total_reward)).toBe(true);
  } else if (rel[0] === 'starts.jsonl') {
    for (const key of ['task', 'environment', 'started_at'])
      expect(typeof r[key], key).toBe('string');
  }
}

const throwingGetter = () =>
  Object.defineProperty({ ok: 1 }, 'bad', {
    enumerable: true,
    get() {
      throw new Error('nope');
    },
  });
const throwingProxy = () =>
  new Proxy(
    {},
    {
      ownKeys() {
        throw new Error('keys trap');
      },
      get() {
        throw new Error('get trap');
      },
      getOwnPropertyDescriptor() {
        throw new Error('descriptor trap');
      },
      has() {
        throw new Error('has trap');
      },
    },
  );
function deepObject(): unknown {
  let d: unknown = { leaf: true };
  for (let i = 0; i < 10_000; i++) d = { next: d };
  return d;
}
function deepArray(): unknown {
  let d: unknown = ['leaf'];
  for (let i = 0; i < 10_000; i++) d = [d];
  return d;
}
const TWENTY_MB = 20 * 1024 * 1024;
/** The sanitizer's default cap on a string (obs-core `maxStringLength`). */
const CAP = 262_144;
const MARKED = /…\[truncated \d+ chars\]$/;

interface Kind {
  name: string;
  make: () => unknown;
  /** Checks the value as the reader rebuilds it from `observation.output` of step 1. */
  check: (output: any, observation: Record<string, unknown>) => void;
  /** Whether the value is kept alike at every depth (not so where the depth cap cuts it). */
  depthFree?: false;
  /** Lone surrogates in keys, which the files keep as JSON escapes. */
  loneKeys?: true;
}

const KINDS: Kind[] = [
  {
    name: 'cycles',
    make: () => {
      const a: any = { x: 1, list: [] };
      a.self = a;
      a.list.push(a);
      return a;
    },
    check: (o) => expect(o).toEqual({ x: 1, list: ['[Circular]'], self: '[Circular]' }),
  },
  {
    name: 'BigInt',
    make: () => ({ small: 42n, big: 10n ** 30n }),
    check: (o) => expect(o).toEqual({ small: 42, big: `1${'0'.repeat(30)}` }),
  },
  {
    name: 'undefined',
    make: () => undefined,
    check: (o, observation) => {
      expect(o).toBeUndefined();
      expect(observation).not.toHaveProperty('output');
    },
  },
  {
    name: 'functions',
    make: () => ({ named: function named() {}, arrow: () => 1 }),
    check: (o) => expect(o).toEqual({ named: '[Function: named]', arrow: '[Function: arrow]' }),
  },
  {
    name: 'symbols',
    make: () => ({ s: Symbol('tag'), [Symbol('key')]: 1 }),
    check: (o) => expect(o).toEqual({ s: 'Symbol(tag)' }),
  },
  {
    name: 'NaN and Infinity',
    make: () => ({ nan: Number.NaN, inf: Number.POSITIVE_INFINITY, ninf: -Infinity }),
    check: (o) => expect(o).toEqual({ nan: 'NaN', inf: 'Infinity', ninf: '-Infinity' }),
  },
  {
    name: 'Dates',
    make: () => ({ d: new Date(0), bad: new Date(Number.NaN) }),
    check: (o) => expect(o).toEqual({ d: '1970-01-01T00:00:00.000Z', bad: 'Invalid Date' }),
  },
  {
    name: 'Errors with a cause',
    make: () => new TypeError('outer', { cause: new Error('inner', { cause: 'root cause' }) }),
    check: (o) => {
      expect(o).toMatchObject({ name: 'TypeError', message: 'outer' });
      expect(o.cause).toMatchObject({ name: 'Error', message: 'inner', cause: 'root cause' });
    },
  },
  {
    name: 'Map and Set',
    make: () => ({
      m: new Map<unknown, unknown>([
        ['a', 1],
        [2, { b: true }],
      ]),
      s: new Set([1, 'two']),
    }),
    check: (o) => expect(o).toEqual({ m: { a: 1, '2': { b: true } }, s: [1, 'two'] }),
  },
  {
    name: 'Buffers and typed arrays',
    make: () => ({
      b: Buffer.from('hello'),
      f: new Float64Array(3),
      u: new Uint8Array(2),
      ab: new ArrayBuffer(8),
    }),
    check: (o) =>
      expect(o).toEqual({
        b: '[Buffer: 5 bytes]',
        f: '[Float64Array: 24 bytes]',
        u: '[Uint8Array: 2 bytes]',
        ab: '[ArrayBuffer: 8 bytes]',
      }),
  },
  {
    name: 'getters that throw',
    make: throwingGetter,
    check: (o) => expect(o).toEqual({ ok: 1, bad: '[Thrown: nope]' }),
  },
  {
    name: 'Proxies that throw',
    make: throwingProxy,
    check: (o) => expect(o).toMatch(/^\[Unserializable: /),
  },
  {
    name: 'a 20 MB string',
    make: () => 'a'.repeat(TWENTY_MB),
    check: (o) => {
      expect(o.length).toBeLessThan(CAP + 64);
      expect(o).toMatch(MARKED);
      expect(o.startsWith('a'.repeat(CAP - 100))).toBe(true);
    },
  },
  {
    name: '10,000-deep nesting (objects)',
    make: deepObject,
    depthFree: false,
    check: (o) => {
      let depth = 0;
      while (typeof o === 'object' && o !== null) {
        o = o.next;
        depth++;
      }
      expect(o).toBe('[MaxDepth]');
      expect(depth).toBeGreaterThan(10);
      expect(depth).toBeLessThan(100);
    },
  },
  {
    name: '10,000-deep nesting (arrays)',
    make: deepArray,
    depthFree: false,
    check: (o) => {
      let depth = 0;
      while (Array.isArray(o)) {
        o = o[0];
        depth++;
      }
      expect(o).toBe('[MaxDepth]');
      expect(depth).toBeLessThan(100);
    },
  },
  {
    name: 'lone surrogates',
    make: () => ({ s: 'a\ud800b\udfff', list: ['\udbff'], pair: 'pair 😀 kept' }),
    check: (o) =>
      expect(o).toEqual({ s: 'a\ufffdb\ufffd', list: ['\ufffd'], pair: 'pair 😀 kept' }),
  },
  {
    // Keys are not replaced (obs-core keeps them as they are); JSON escapes them, so the
    // line stays valid and the key reads back the same.
    name: 'lone surrogates in keys',
    make: () => ({ 'k\udc00': 1 }),
    check: (o) => expect(['k\udc00', 'k\ufffd']).toContain(Object.keys(o)[0]),
    loneKeys: true,
  },
];

describe('bad input end to end: coordinator + jsonl sink, one test per kind', () => {
  it.each(KINDS)('$name', async ({ name, make, check, depthFree, loneKeys }) => {
    const { root, base, direct } = layout();
    const v = make();
    const sink = createJsonlSink({ dir: base });
    const raw = createJsonlSink({ dir: direct });
    const obs = RLMObservability.withSinks([sink], quiet);
    const runId = `kind-${name.replace(/\W+/g, '-')}`;
    const hooksId = `${runId}-hooks`;
    expect(() => {
      // The run API: the value in every field a caller fills.
      const run = obs.startRun({
        runId,
        task: v as never,
        environment: v as never,
        params: { v },
        attributes: { v },
      });
      run.step({
        action: { action: 'run_python', code: v as never, rationale: v as never },
        observation: { success: true, output: v as never, error: v as never },
        reward: 1,
        extra: v,
      } as never);
      // The value where a field of another type belongs, and as the whole event.
      run.step({ reward: v, observation: { success: v }, action: v, step: v } as never);
      run.step(v as never);
      run.end({ finalAnswer: v, error: v, completed: v } as never);
      // The raw hooks: the value as the whole payload and in every field.
      obs.onRunStart(hooksId, v as never);
      obs.onStep(hooksId, v as never);
      obs.onStep(hooksId, { event: v, cumulativeReward: v } as never);
      obs.onStep(hooksId, { event: { step: v, action: v, v }, cumulativeReward: 0 } as never);
      obs.onRunEnd(hooksId, { result: v, runPath: v } as never);
      obs.onRunEnd(hooksId, v as never);
      // The same straight into a sink, without the coordinator's sanitizing pass.
      raw.onRunStart(runId, { task: v, environment: v, params: { v }, attributes: { v } } as never);
      raw.onRunStart(hooksId, v as never);
      raw.onStep(runId, { event: { step: 1, output: v, v }, cumulativeReward: v } as never);
      raw.onStep(runId, { event: v, cumulativeReward: 0 } as never);
      raw.onStep(hooksId, v as never);
      raw.onRunEnd(runId, { result: { finalAnswer: v, steps: v }, runPath: v } as never);
      raw.onRunEnd(hooksId, v as never);
      raw.onRunStart(`${runId}-p`, { task: 't', params: v, attributes: v } as never);
      raw.onStep(`${runId}-p`, {
        event: { step: 1, observation: v },
        cumulativeReward: 1,
      } as never);
      raw.onRunEnd(`${runId}-p`, { result: v } as never);
    }).not.toThrow();
    const report = await obs.shutdown({ timeoutMs: 30_000 });
    expect(report.ok).toBe(true);
    await raw.shutdown();
    expect(sink.status()).toMatchObject({ lines_failed: 0, lines_dropped: 0 });
    expect(raw.status()).toMatchObject({ lines_failed: 0 });

    expect(checkFiles(root)).toBeGreaterThanOrEqual(10);
    // Through the coordinator, nothing is lost: 3 steps of the run, 3 of the raw hooks.
    const store = openJsonlStore(base);
    const stored = await store.readRun(runId);
    expect(stored.steps.map((s) => s.event.step)).toEqual([1, 2, 3]);
    expect(stored.end).toBeDefined();
    const observation = stored.steps[0]!.event.observation as Record<string, unknown>;
    check(observation.output, observation);
    // The same value the same way in every other place it went (at any depth unless cut).
    const same = (value: unknown) =>
      depthFree === false
        ? expect(JSON.stringify(value)).toContain('"[MaxDepth]"')
        : expect(JSON.stringify(value)).toBe(JSON.stringify(observation.output));
    same((stored.start!.params as Record<string, unknown>).v);
    same((stored.start!.attributes as Record<string, unknown> | undefined)?.v);
    same((stored.steps[0]!.event as Record<string, unknown>).extra);
    same((stored.end!.result as Record<string, unknown>).finalAnswer);
    expect((await store.readRun(hooksId)).steps).toHaveLength(3);
    // A string task is kept (capped), anything else becomes a string or the Python default.
    const [start] = readLines(path.join(base, 'starts.jsonl'));
    expect(typeof start!.task).toBe('string');
    if (typeof v === 'string') expect(start!.task).toMatch(MARKED);
    for (const file of listFiles(base)) {
      const text = fs.readFileSync(path.join(base, file), 'utf8');
      // No value holds a lone surrogate, even as an escape: the sanitizer replaced them.
      if (!loneKeys) expect(text).not.toMatch(/\\ud[89a-f][0-9a-f]{2}/i);
      // The file is well-formed UTF-8 (a lone surrogate written raw would not be).
      expect(Buffer.from(text, 'utf8').equals(fs.readFileSync(path.join(base, file)))).toBe(true);
      expect(text.length).toBeLessThan(4 * 1024 * 1024);
    }
  });
});

/** The run id cases: each goes through the run API, the raw hooks and a sink directly. */
const RUN_IDS: Array<[string, unknown]> = [
  ['empty', ''],
  ['huge (10,000 chars)', 'x'.repeat(10_000)],
  ['huge (1 MB)', 'y'.repeat(1 << 20)],
  ['a number', 42],
  ['NaN', Number.NaN],
  ['a BigInt', 10n ** 20n],
  ['null', null],
  ['undefined', undefined],
  ['an object', { id: 'x' }],
  ['an array', ['a']],
  ['a symbol', Symbol('id')],
  ['containing NUL', 'nul\u0000byte'],
  ['../../x', '../../x'],
  ['../../../../x', '../../../../x'],
  ['..', '..'],
  ['.', '.'],
  ['an absolute path', '@ABS@'],
  ['slashes and backslashes', 'a/b\\c/../d'],
  ['a lone surrogate', '\ud800lone'],
  ['newlines and quotes', 'line\n"two"\r\n'],
];

describe('bad run ids end to end: one test each', () => {
  it.each(RUN_IDS)('%s', async (_label, given) => {
    const { root, base, direct } = layout();
    // An absolute path inside the temp root: a sink that joined it naively would write there.
    const id = given === '@ABS@' ? path.join(root, 'abs-escape') : given;
    const sink = createJsonlSink({ dir: base });
    const raw = createJsonlSink({ dir: direct });
    const obs = RLMObservability.withSinks([sink], quiet);
    let run: ReturnType<RLMObservability['startRun']> | undefined;
    expect(() => {
      run = obs.startRun({ runId: id as never, task: 't', environment: 'e' });
      run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
      run.end({ completed: true });
      const child = run.child({ task: 'child', runId: id as never } as never);
      child.step({ reward: 1 });
      child.end();
      obs.onRunStart(id as never, { task: 't', environment: 'e', params: {} });
      obs.onStep(id as never, { event: { step: 1 }, cumulativeReward: 0 });
      obs.onRunEnd(id as never, { result: { completed: true } });
      obs.onRunStart('ok-run', {
        task: 't',
        environment: 'e',
        params: {},
        parentRunId: id,
      } as never);
      obs.onStep('ok-run', { event: { step: 1, v: id }, cumulativeReward: 0 });
      obs.onRunEnd('ok-run', { result: { completed: true } });
      raw.onRunStart(id as never, { task: 't', environment: 'e', params: {} });
      raw.onStep(id as never, { event: { step: 1 }, cumulativeReward: 0 });
      raw.onRunEnd(id as never, { result: { completed: true } });
    }).not.toThrow();
    const report = await obs.shutdown({ timeoutMs: 30_000 });
    expect(report.ok).toBe(true);
    await raw.shutdown();
    expect(sink.status()).toMatchObject({ lines_failed: 0, lines_dropped: 0 });
    expect(raw.status()).toMatchObject({ lines_failed: 0 });
    checkFiles(root);
    // The run API always records the run somewhere readable, under a usable id.
    const store = openJsonlStore(base);
    const stored = await store.readRun(run!.id);
    expect(stored.steps.length).toBeGreaterThanOrEqual(1);
    expect(stored.end).toBeDefined();
    expect(run!.id.length).toBeGreaterThan(0);
    expect(run!.id.length).toBeLessThanOrEqual(512);
    expect((await store.readRun('ok-run')).steps).toHaveLength(1);
    // A string id the coordinator takes as it is can be read back by that id.
    if (typeof id === 'string' && id.length > 0 && id.length <= 512 && !/[\ud800-\udfff]/.test(id))
      expect((await store.readRun(id)).steps.length).toBeGreaterThanOrEqual(1);
  });
});

/** Missing and wrong-typed fields, one test each. */
const FIELDS: Array<[string, (obs: RLMObservability) => void]> = [
  [
    'startRun with nothing, or with every field of the wrong type',
    (obs) => {
      obs.startRun(undefined as never).end();
      obs.startRun(null as never).end();
      obs.startRun('task' as never).end();
      obs
        .startRun({
          task: 42,
          environment: {},
          params: 'not an object',
          attributes: [1, 2],
          parentRunId: 7,
          traceparent: 'garbage',
          tags: 'x',
          sessionId: {},
          startedAt: -1,
        } as never)
        .end();
    },
  ],
  [
    'step events missing or of the wrong type',
    (obs) => {
      const run = obs.startRun({ runId: 'fields-steps', task: 't' });
      for (const event of [
        undefined,
        null,
        'a string',
        42,
        [],
        {},
        { step: 'one', reward: '5', action: 7, observation: 'o' },
        { step: -1.5, reward: Number.NaN, action: { action: 9 }, observation: { success: 'yes' } },
        { step: 2 ** 60, reward: Number.POSITIVE_INFINITY, durationMs: 'slow', usage: 'lots' },
      ])
        run.step(event as never);
      run.end({ completed: true });
    },
  ],
  [
    'end results missing or of the wrong type',
    (obs) => {
      for (const [i, result] of [
        undefined,
        null,
        'done',
        { completed: 'yes', steps: 'many', totalReward: {}, startedAt: 5, finishedAt: [] },
        { completed: true, steps: -3.7, totalReward: Number.NaN },
      ].entries()) {
        const run = obs.startRun({ runId: `fields-end-${i}`, task: 't' });
        run.step({ reward: 1 });
        run.end(result as never);
      }
    },
  ],
  [
    'raw hook payloads missing or of the wrong type',
    (obs) => {
      for (const start of [undefined, null, 42, 'start', [], {}, { task: 1, params: 'p' }])
        obs.onRunStart('fields-raw', start as never);
      for (const step of [
        undefined,
        null,
        42,
        {},
        { event: 5, cumulativeReward: 'x' },
        { event: null },
        { event: { step: '1', action: [] }, cumulativeReward: Number.NaN },
      ])
        obs.onStep('fields-raw', step as never);
      for (const end of [undefined, null, 'end', { result: 'x', runPath: 5 }, { result: [] }])
        obs.onRunEnd('fields-raw', end as never);
    },
  ],
];

describe('missing and wrong-typed fields end to end: one test each', () => {
  it.each(FIELDS)('%s', async (_label, feed) => {
    const { root, base } = layout();
    const sink = createJsonlSink({ dir: base });
    const obs = RLMObservability.withSinks([sink], quiet);
    expect(() => feed(obs)).not.toThrow();
    const report = await obs.shutdown({ timeoutMs: 30_000 });
    expect(report.ok).toBe(true);
    expect(sink.status()).toMatchObject({ lines_failed: 0, lines_dropped: 0 });
    expect(checkFiles(root)).toBeGreaterThan(0);
    for (const r of await openJsonlStore(base).listRuns()) {
      const stored = await openJsonlStore(base).readRun(r.runId);
      expect(stored.malformedLines ?? 0).toBe(0);
    }
  });
});
