import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { loadObservability } from '../../src/config/load-observability.js';
import { MemorySink } from '../../src/testing/memory-sink.js';
import { makeProject } from './project.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function project(files: Record<string, string>) {
  const p = makeProject(files);
  cleanups.push(p.remove);
  return p;
}

const ATTRS = { attributes: { team: 'ml' } };

describe('config discovery', () => {
  const cases: Array<[string, string]> = [
    [
      'rlm-obs.config.ts',
      `import type { RlmObsConfig } from 'x'; const c: { attributes: Record<string, string> } = { attributes: { team: 'ml' } }; export default c;`,
    ],
    ['rlm-obs.config.mts', `export default { attributes: { team: 'ml' } as const };`],
    ['rlm-obs.config.js', `export default ${JSON.stringify(ATTRS)};`],
    ['rlm-obs.config.mjs', `export default ${JSON.stringify(ATTRS)};`],
    ['rlm-obs.config.cjs', `module.exports = ${JSON.stringify(ATTRS)};`],
    ['rlm-obs.config.json', JSON.stringify(ATTRS)],
    ['rlm-obs.config.yaml', 'attributes:\n  team: ml\n'],
    ['rlm-obs.config.yml', 'attributes:\n  team: ml\n'],
    ['.rlm-obsrc', JSON.stringify(ATTRS)],
    ['.rlm-obsrc.json', JSON.stringify(ATTRS)],
    ['.rlm-obsrc.yaml', 'attributes: { team: ml }\n'],
    ['.rlm-obsrc.js', `export default ${JSON.stringify(ATTRS)};`],
    [
      '.rlm-obsrc.ts',
      `export default { attributes: { team: 'ml' } satisfies Record<string, string> };`,
    ],
  ];
  for (const [file, text] of cases) {
    it(`finds ${file}`, async () => {
      const extra: Record<string, string> = file.endsWith('.js')
        ? { 'package.json': JSON.stringify({ type: 'module' }) }
        : {};
      const p = project({ [file]: text, ...extra });
      const loaded = await loadConfig({ cwd: p.dir, env: {} });
      expect(loaded).toMatchObject({ file: path.join(p.dir, file), dir: p.dir, config: ATTRS });
    });
  }

  it('reads .rlm-obsrc as YAML when it is not JSON', async () => {
    const p = project({ '.rlm-obsrc': 'attributes:\n  team: ml\n' });
    expect((await loadConfig({ cwd: p.dir, env: {} }))?.config).toEqual(ATTRS);
  });

  it('finds an rlmObs key in package.json', async () => {
    const p = project({ 'package.json': JSON.stringify({ name: 'app', rlmObs: ATTRS }) });
    expect(await loadConfig({ cwd: p.dir, env: {} })).toMatchObject({
      file: path.join(p.dir, 'package.json'),
      config: ATTRS,
    });
  });

  it('searches upwards from the working directory', async () => {
    const p = project({ 'rlm-obs.config.json': JSON.stringify(ATTRS), 'src/deep/dir/.keep': '' });
    expect((await loadConfig({ cwd: path.join(p.dir, 'src/deep/dir'), env: {} }))?.file).toBe(
      path.join(p.dir, 'rlm-obs.config.json'),
    );
  });

  it('an explicit path wins over the search', async () => {
    const p = project({
      'rlm-obs.config.json': JSON.stringify(ATTRS),
      'other.json': JSON.stringify({ attributes: { team: 'other' } }),
    });
    expect((await loadConfig({ cwd: p.dir, configFile: 'other.json', env: {} }))?.config).toEqual({
      attributes: { team: 'other' },
    });
  });

  it('returns undefined without a config, and configFile: false skips the search', async () => {
    const p = project({ 'rlm-obs.config.json': JSON.stringify(ATTRS) });
    expect(await loadConfig({ cwd: p.dir, configFile: false })).toBeUndefined();
    const empty = project({ '.keep': '' });
    expect(await loadConfig({ cwd: empty.dir, env: {} })).toBeUndefined();
  });
});

describe('${ENV_VAR} interpolation', () => {
  it('fills strings from the environment, with defaults and escapes', async () => {
    const p = project({
      'rlm-obs.config.json': JSON.stringify({
        attributes: {
          url: '${HOOK_URL}/x',
          region: '${REGION:-eu}',
          literal: '$${NOT_A_VAR}',
          list: ['${HOOK_URL}'],
        },
      }),
    });
    const loaded = await loadConfig({ cwd: p.dir, env: { HOOK_URL: 'https://hooks.example' } });
    expect(loaded?.config.attributes).toEqual({
      url: 'https://hooks.example/x',
      region: 'eu',
      literal: '${NOT_A_VAR}',
      list: ['https://hooks.example'],
    });
  });

  it('a variable that is not set names the key', async () => {
    const p = project({
      'rlm-obs.config.json': JSON.stringify({ sinks: [['webhook', { url: '${HOOK_URL}' }]] }),
    });
    await expect(loadConfig({ cwd: p.dir, env: {} })).rejects.toThrow(
      `environment variable HOOK_URL is not set; set it, or write \${HOOK_URL:-default} for a default (${path.join(p.dir, 'rlm-obs.config.json')}, sinks[0][1].url)`,
    );
  });
});

describe('config fields reach the coordinator', () => {
  const quiet = { overrides: { flushOnExit: false, logger: false as const }, env: {} };

  it('attributes, redact and truncate', async () => {
    const memory = new MemorySink('m');
    (globalThis as Record<string, unknown>).__rlmObsMemory = memory;
    const p = project({
      'rlm-obs.config.mjs': `export default {
        sinks: [globalThis.__rlmObsMemory],
        attributes: { team: 'ml-platform' },
        redact: { keys: ['customer_email'] },
        truncate: { maxStringLength: 20 },
      };`,
    });
    const obs = await loadObservability({ ...quiet, cwd: p.dir });
    const run = obs.startRun({
      task: 'a long task description',
      params: { customer_email: 'a@b.c' },
      attributes: { run: 1 },
    });
    run.end();
    const start = memory.events[0]!.payload as {
      task: string;
      params: Record<string, unknown>;
      attributes: Record<string, unknown>;
    };
    expect(start.attributes).toEqual({ team: 'ml-platform', run: 1 });
    expect(start.params.customer_email).toBe('[REDACTED]');
    expect(start.task).toBe('a long task descript…[truncated 3 chars]');
  });

  it('enabled: false and DSPY_RLM_OBS_ENABLED=false load no sinks', async () => {
    const p = project({
      'rlm-obs.config.json': JSON.stringify({ enabled: false, sinks: ['not-installed'] }),
    });
    expect((await loadObservability({ ...quiet, cwd: p.dir })).status()).toEqual([]);
    const q = project({ 'rlm-obs.config.json': JSON.stringify({ sinks: ['not-installed'] }) });
    expect(
      (
        await loadObservability({ ...quiet, cwd: q.dir, env: { DSPY_RLM_OBS_ENABLED: 'false' } })
      ).status(),
    ).toEqual([]);
  });

  it('queue bounds and timeouts', async () => {
    const p = project({
      'rlm-obs.config.mjs': `export default { sinks: [{ name: 'slow', status: () => ({ name: 'slow', enabled: true, available: true, detail: '' }), onRunStart: () => new Promise(() => {}), onStep() {}, onRunEnd() {} }], queue: { maxQueueSize: 2, callTimeoutMs: 60000 } };`,
    });
    const obs = await loadObservability({ ...quiet, cwd: p.dir });
    for (let i = 0; i < 5; i++)
      obs.onRunStart(`r${i}`, { task: 't', environment: 'e', params: {} });
    expect(obs.status()[0]!.counters).toMatchObject({ pending: 3, dropped: 2 });
  });
});

describe('sampling', () => {
  it('is decided once per root run, inherited by children, per-sink overridable; local files keep all', async () => {
    const all = new MemorySink('all');
    const half = new MemorySink('half');
    const none = new MemorySink('none');
    const jsonlLike = Object.assign(new MemorySink('local-jsonl'), { defaultSamplingRate: 1 });
    (globalThis as Record<string, unknown>).__rlmObsSampled = [all, half, none, jsonlLike];
    const p = project({
      'rlm-obs.config.mjs': `export default { sinks: globalThis.__rlmObsSampled, sampling: { rate: 0.5, sinks: { all: 1, none: 0 } } };`,
    });
    const obs = await loadObservability({
      overrides: { flushOnExit: false, logger: false },
      env: {},
      cwd: p.dir,
    });
    const roots = Array.from({ length: 200 }, (_, i) =>
      obs.startRun({ runId: `root-${i}`, task: 't' }),
    );
    for (const root of roots) {
      root.step({ reward: 1 });
      const child = root.child({ task: 'child' });
      child.step({ reward: 1 });
      child.end();
      root.end();
    }
    expect(all.count()).toBe(200 * 6);
    expect(jsonlLike.count()).toBe(200 * 6);
    expect(none.count()).toBe(0);
    const keptRoots = new Set(
      half.events.filter((e) => e.runId.startsWith('root-')).map((e) => e.runId),
    );
    expect(keptRoots.size).toBeGreaterThan(60);
    expect(keptRoots.size).toBeLessThan(140);
    // Every kept root kept its child, and nothing is half-kept.
    expect(half.count()).toBe(keptRoots.size * 6);
    const counters = Object.fromEntries(obs.status().map((s) => [s.name, s.counters]));
    // Per root: 6 events, and the end-of-run scores (reward, completed) of both runs.
    expect(counters.half!.delivered + counters.half!.sampledOut).toBe(200 * 10);
    expect(counters.none!.sampledOut).toBe(200 * 10);
    expect(half.scores.length).toBe(keptRoots.size * 4);
    // Deterministic: the same roots are kept next time.
    const again = await loadObservability({
      overrides: { flushOnExit: false, logger: false },
      env: {},
      cwd: p.dir,
      configFile: path.join(p.dir, 'rlm-obs.config.mjs'),
    });
    half.clear();
    for (let i = 0; i < 200; i++) again.startRun({ runId: `root-${i}`, task: 't' }).end();
    expect(new Set(half.events.map((e) => e.runId))).toEqual(keptRoots);
  });
});

describe('the seed API and paths', () => {
  it('RLMObservability.default() is loadObservability()', async () => {
    const { RLMObservability } = await import('../../src/coordinator.js');
    const p = project({ 'rlm-obs.config.json': JSON.stringify({ enabled: false }) });
    const obs = await RLMObservability.default({
      cwd: p.dir,
      env: {},
      overrides: { flushOnExit: false },
    });
    expect(obs).toBeInstanceOf(RLMObservability);
    expect(obs.status()).toEqual([]);
  });

  it('a relative jsonl dir in a config file is relative to that file', async () => {
    const fs = await import('node:fs');
    const p = project({
      'conf/rlm-obs.config.json': JSON.stringify({ sinks: [['jsonl', { dir: 'records' }]] }),
      'elsewhere/.keep': '',
    });
    fs.mkdirSync(path.join(p.dir, 'conf/node_modules/@rlm'), { recursive: true });
    fs.symlinkSync(
      path.resolve(__dirname, '../../../sink-jsonl'),
      path.join(p.dir, 'conf/node_modules/@rlm/sink-jsonl'),
    );
    const obs = await loadObservability({
      cwd: path.join(p.dir, 'elsewhere'),
      configFile: path.join(p.dir, 'conf/rlm-obs.config.json'),
      env: {},
      overrides: { flushOnExit: false, logger: false },
    });
    expect(obs.status()[0]).toMatchObject({
      name: 'local-jsonl',
      detail: path.join(p.dir, 'conf', 'records'),
    });
    await obs.shutdown();
  });
});
