import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RlmObsConfigError } from '../../src/config/config-error.js';
import {
  loadObservability,
  loadObservabilityDetailed,
} from '../../src/config/load-observability.js';
import { sinkCandidates } from '../../src/config/resolve-sink.js';
import { MemorySink } from '../../src/testing/memory-sink.js';
import { fakeSeedPackage, fakeSinkPackage, makeProject } from './project.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function project(files: Record<string, string>) {
  const p = makeProject(files);
  cleanups.push(p.remove);
  return p;
}
const quiet = { overrides: { flushOnExit: false, logger: false as const }, env: {} };
const calls = (): unknown[][] =>
  ((globalThis as { __rlmObsFakeCalls?: unknown[][] }).__rlmObsFakeCalls ??= []);

describe('sink name resolution', () => {
  it('maps names to candidate packages', () => {
    expect(sinkCandidates('otel')).toEqual(['@rlm/sink-otel', 'rlm-sink-otel']);
    expect(sinkCandidates('@acme')).toEqual(['@acme/rlm-sink']);
    expect(sinkCandidates('@acme/webhook')).toEqual(['@acme/webhook']);
    expect(sinkCandidates('rlm-sink-webhook')).toEqual(['rlm-sink-webhook']);
    expect(sinkCandidates('./sinks/mine.js')).toEqual(['./sinks/mine.js']);
  });

  it('a short name x resolves to @rlm/sink-x first', async () => {
    const p = project({
      ...fakeSinkPackage('@rlm/sink-fake', 'scoped-fake'),
      ...fakeSinkPackage('rlm-sink-fake', 'unscoped-fake'),
      'rlm-obs.config.mjs': `export default { sinks: ['fake'] };`,
    });
    const obs = await loadObservability({ ...quiet, cwd: p.dir });
    expect(obs.status().map((s) => s.name)).toEqual(['scoped-fake']);
  });

  it('then rlm-sink-x', async () => {
    const p = project({
      ...fakeSinkPackage('rlm-sink-fake2', 'unscoped'),
      'rlm-obs.config.mjs': `export default { sinks: ['fake2'] };`,
    });
    expect((await loadObservability({ ...quiet, cwd: p.dir })).status().map((s) => s.name)).toEqual(
      ['unscoped'],
    );
  });

  it('@scope resolves to @scope/rlm-sink, @scope/name as given', async () => {
    const p = project({
      ...fakeSinkPackage('@acme/rlm-sink', 'acme-default'),
      ...fakeSinkPackage('@acme/custom', 'acme-custom'),
      'rlm-obs.config.mjs': `export default { sinks: ['@acme', '@acme/custom'] };`,
    });
    expect((await loadObservability({ ...quiet, cwd: p.dir })).status().map((s) => s.name)).toEqual(
      ['acme-default', 'acme-custom'],
    );
  });

  it('paths resolve from the config file, names from its directory (not the cwd)', async () => {
    const p = project({
      ...Object.fromEntries(
        Object.entries(fakeSinkPackage('rlm-sink-nested', 'nested')).map(([k, v]) => [
          `app/${k}`,
          v,
        ]),
      ),
      'app/config/sinks/my-sink.mjs': `export function createSink(o) { return { name: 'my-' + o.suffix, status: () => ({ name: 'my-' + o.suffix, enabled: true, available: true, detail: '' }), onRunStart() {}, onStep() {}, onRunEnd() {} }; }`,
      'app/config/rlm-obs.config.mjs': `export default { sinks: [{ use: './sinks/my-sink.mjs', options: { suffix: 'path' } }, 'nested'] };`,
      'elsewhere/.keep': '',
    });
    const { obs, config } = await loadObservabilityDetailed({
      ...quiet,
      cwd: path.join(p.dir, 'elsewhere'),
      configFile: path.join(p.dir, 'app/config/rlm-obs.config.mjs'),
    });
    expect(config?.dir).toBe(path.join(p.dir, 'app/config'));
    expect(obs.status().map((s) => s.name)).toEqual(['my-path', 'nested']);
    expect(obs.status()[1]!.configDir).toBe(path.join(p.dir, 'app/config'));
  });

  it('accepts [name, options], { use, options }, factories, modules and sink objects; skips falsy entries', async () => {
    const p = project({ ...fakeSinkPackage('@rlm/sink-fake', 'fake') });
    const memory = new MemorySink('imported-object');
    const modUrl = pathToFileURL(path.join(p.dir, 'node_modules/@rlm/sink-fake/index.js')).href;
    const mod = await import(modUrl);
    p.write(
      'rlm-obs.config.mjs',
      `export default { sinks: [
        ['fake', { name: 'tuple' }],
        { use: 'fake', options: { name: 'use-object' } },
        false, null, undefined, 0, '',
      ] };`,
    );
    const fromFile = await loadObservability({ ...quiet, cwd: p.dir });
    expect(fromFile.status().map((s) => [s.name, s.options])).toEqual([
      ['tuple', JSON.stringify({ name: 'tuple' })],
      ['use-object', JSON.stringify({ name: 'use-object' })],
    ]);
    // Already-imported values work from a TypeScript/JS config the same way.
    (globalThis as Record<string, unknown>).__rlmObsTestValues = {
      factory: mod.createSink,
      module: mod,
      memory,
    };
    p.write(
      'rlm-obs.config.mjs',
      `const v = globalThis.__rlmObsTestValues;
       export default { sinks: [v.memory, v.factory, { use: v.module, options: { name: 'as-module' } }, { use: (o) => v.factory({ name: 'use-fn' }) }] };`,
    );
    const fromValues = await loadObservability({
      ...quiet,
      cwd: p.dir,
      configFile: path.join(p.dir, 'rlm-obs.config.mjs'),
    });
    expect(fromValues.status().map((s) => s.name)).toEqual([
      'imported-object',
      'fake',
      'as-module',
      'use-fn',
    ]);
    expect(fromValues.getSink('imported-object')).toBe(memory);
  });

  it('without a sinks list, uses the local files', async () => {
    const p = project({ 'rlm-obs.config.json': '{}' });
    const link = path.join(p.dir, 'node_modules', '@rlm');
    (await import('node:fs')).mkdirSync(link, { recursive: true });
    (await import('node:fs')).symlinkSync(
      path.resolve(__dirname, '../../../sink-jsonl'),
      path.join(link, 'sink-jsonl'),
    );
    const obs = await loadObservability({ ...quiet, cwd: p.dir });
    expect(obs.status().map((s) => s.name)).toEqual(['local-jsonl']);
    await obs.shutdown();
  });
});

describe('errors that say what to do', () => {
  it('an uninstalled sink names the package and the install command', async () => {
    const p = project({
      'pnpm-lock.yaml': '',
      'rlm-obs.config.mjs': `export default { sinks: ['otel'] };`,
    });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      `sink 'otel' is not installed: pnpm add @rlm/sink-otel (${path.join(p.dir, 'rlm-obs.config.mjs')}, sinks[0])`,
    );
    const q = project({
      'rlm-obs.config.json': JSON.stringify({ sinks: ['jsonl', '@acme/webhook'] }),
    });
    const error = await loadObservability({ ...quiet, cwd: q.dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RlmObsConfigError);
    expect((error as RlmObsConfigError).key).toBe('sinks[0]');
    expect((error as Error).message).toMatch(
      /^sink 'jsonl' is not installed: npm install @rlm\/sink-jsonl/,
    );
  });

  it('a name that is not one of ours: the status name maps to the short one, a typo gets a suggestion, any other name the third-party package', async () => {
    const cases: Array<[string, string]> = [
      [
        'opentelemetry',
        "sink 'opentelemetry' is not installed: 'opentelemetry' is the name its status shows; in a config it is 'otel' (npm install @rlm/sink-otel)",
      ],
      [
        'local-jsonl',
        "sink 'local-jsonl' is not installed: 'local-jsonl' is the name its status shows; in a config it is 'jsonl' (npm install @rlm/sink-jsonl)",
      ],
      [
        'jsnol',
        "sink 'jsnol' is not installed (no package @rlm/sink-jsnol or rlm-sink-jsnol here); did you mean 'jsonl'?",
      ],
      [
        'langfuze',
        "sink 'langfuze' is not installed (no package @rlm/sink-langfuze or rlm-sink-langfuze here); did you mean 'langfuse'?",
      ],
      [
        'webhook',
        "sink 'webhook' is not installed (no package @rlm/sink-webhook or rlm-sink-webhook here); a third-party sink installs with: npm install rlm-sink-webhook",
      ],
    ];
    for (const [name, message] of cases) {
      const p = project({ 'rlm-obs.config.json': JSON.stringify({ sinks: [name] }) });
      await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
        `${message} (${path.join(p.dir, 'rlm-obs.config.json')}, sinks[0])`,
      );
    }
  });

  it('an empty config file is a config with the defaults, found or given alike', async () => {
    const p = project({
      ...fakeSeedPackage('@rlm/sink-jsonl', 'local-jsonl', 'DSPY_RLM_OBS_LOCAL_JSONL', []),
      ...fakeSeedPackage('@rlm/sink-otel', 'opentelemetry', 'DSPY_RLM_OTEL_ENABLED', []),
      'rlm-obs.config.json': '',
    });
    const env = { DSPY_RLM_OTEL_ENABLED: 'true' };
    const found = await loadObservabilityDetailed({ ...quiet, env, cwd: p.dir });
    const given = await loadObservabilityDetailed({
      ...quiet,
      env,
      cwd: p.dir,
      configFile: 'rlm-obs.config.json',
    });
    try {
      expect(found.config?.file).toBe(path.join(p.dir, 'rlm-obs.config.json'));
      expect(given.config?.file).toBe(found.config?.file);
      // The defaults (the jsonl sink), not the environment's seed flags (which would add otel).
      expect(found.obs.status().map((s) => s.name)).toEqual(['local-jsonl']);
      expect(given.obs.status().map((s) => s.name)).toEqual(['local-jsonl']);
    } finally {
      await found.obs.shutdown();
      await given.obs.shutdown();
    }
  });

  it('a missing path names the file it looked for', async () => {
    const p = project({ 'rlm-obs.config.mjs': `export default { sinks: ['./nope.mjs'] };` });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      `sink './nope.mjs' was not found: no file at ${path.join(p.dir, 'nope.mjs')}`,
    );
  });

  it('invalid options give the schema message and the key path', async () => {
    const schema = `export const optionsSchema = { '~standard': { version: 1, vendor: 'test', validate(v) {
      if (typeof v.url !== 'string') return { issues: [{ message: 'Expected a URL string', path: ['url'] },
        ...(v.port === undefined ? [] : [{ message: 'Expected a port', path: ['port'] }, { message: 'Expected a name', path: [{ key: 'names' }, 0] }])] };
      return { value: { ...v, validated: true } };
    } } };`;
    const p = project({
      ...fakeSinkPackage('rlm-sink-hook', 'hook', schema),
      'rlm-obs.config.mjs': `export default { sinks: ['jsonl-off' && false, ['hook', { url: 42 }]] };`,
    });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      `invalid options for sink 'hook': Expected a URL string (${path.join(p.dir, 'rlm-obs.config.mjs')}, sinks[1].options.url)`,
    );
    // Every issue names its key, not "(and 2 more)".
    p.write(
      'rlm-obs.config.mjs',
      `export default { sinks: [['hook', { url: 42, port: 'x', names: [1] }]] };`,
    );
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      `invalid options for sink 'hook': Expected a URL string (also options.port: Expected a port; options.names[0]: Expected a name) (${path.join(p.dir, 'rlm-obs.config.mjs')}, sinks[0].options.url)`,
    );
    p.write(
      'rlm-obs.config.mjs',
      `export default { sinks: [['hook', { url: 'http://127.0.0.1:9' }]] };`,
    );
    const obs = await loadObservability({
      ...quiet,
      cwd: p.dir,
      configFile: path.join(p.dir, 'rlm-obs.config.mjs'),
    });
    expect(JSON.parse(obs.status()[0]!.options as string)).toEqual({
      url: 'http://127.0.0.1:9',
      validated: true,
    });
  });

  it('malformed JSON and YAML files name the file', async () => {
    const p = project({ 'rlm-obs.config.json': '{ "sinks": [ }' });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      /^malformed JSON: .*rlm-obs\.config\.json\)$/,
    );
    const q = project({ 'rlm-obs.config.yaml': 'sinks: [jsonl\n  bad: : :' });
    await expect(loadObservability({ ...quiet, cwd: q.dir })).rejects.toThrow(
      /^malformed YAML: .*rlm-obs\.config\.yaml\)$/,
    );
  });

  it('the exit section: graceMs is a number of milliseconds or false; unknown keys are named', async () => {
    const config = path.join('rlm-obs.config.json');
    const p = project({ [config]: JSON.stringify({ sinks: [], exit: { graceMs: -1 } }) });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      `must be a number of milliseconds (0 or more) or false (${path.join(p.dir, config)}, exit.graceMs)`,
    );
    p.write(config, JSON.stringify({ sinks: [], exit: { grace: 1 } }));
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      `unknown key 'grace' (${path.join(p.dir, config)}, exit.grace)`,
    );
    for (const graceMs of [false, 0, 2500] as const) {
      p.write(config, JSON.stringify({ sinks: [], exit: { graceMs } }));
      const obs = await loadObservability({ ...quiet, cwd: p.dir });
      expect(obs.exitGraceMs).toBe(graceMs);
      await obs.shutdown();
    }
  });

  it('the redact section is checked: a YAML slip like `keys: customer_email` is an error, not an unmasked field', async () => {
    for (const [redact, message] of [
      [
        { keys: 'customer_email' },
        /^must be a list of key names, like \['customer_email'\] \(got "customer_email"\) \(.*, redact\.keys\)$/,
      ],
      [{ patterns: 'sk-[a-z]+' }, /must be a list of patterns.*redact\.patterns\)$/],
      [{ patterns: ['sk-[a-z'] }, /^is not a valid regular expression: .*redact\.patterns\[0\]\)$/],
      [{ keys: [42] }, /^must be a string or a RegExp \(got 42\) .*redact\.keys\[0\]\)$/],
      [{ urlCredentials: 'no' }, /^must be true or false .*redact\.urlCredentials\)$/],
      [{ marker: '' }, /^must be a non-empty string .*redact\.marker\)$/],
      [{ key: ['x'] }, /^unknown key 'key'; did you mean 'keys'\? .*redact\.key\)$/],
    ] as const) {
      const p = project({ 'rlm-obs.config.json': JSON.stringify({ sinks: [], redact }) });
      await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(message);
    }
  });

  it('redact patterns written as strings (a config file cannot hold a RegExp) mask what they match', async () => {
    const memory = new MemorySink('memory');
    (globalThis as Record<string, unknown>).__rlmObsRedactSinks = [memory];
    const p = project({
      'rlm-obs.config.mjs': `export default { sinks: globalThis.__rlmObsRedactSinks, redact: { keys: ['customer_email'], patterns: ['acme-[0-9]{6}'] } };`,
    });
    const obs = await loadObservability({ ...quiet, cwd: p.dir });
    const run = obs.startRun({ runId: 'r', task: 't' });
    run.step({ action: 'call', output: 'id acme-123456 ok', customerEmail: 'a@b.c' } as never);
    run.end();
    await obs.shutdown();
    const step = memory.events.find((e) => e.hook === 'onStep')!.payload as {
      event: Record<string, unknown>;
    };
    expect(step.event.output).toBe('id [REDACTED] ok');
    expect(JSON.stringify(step)).not.toContain('a@b.c');
  });

  it('exit.flushOnExit and exit.handleSignals are type-checked', async () => {
    for (const [exit, message] of [
      [{ flushOnExit: 'false' }, /^must be true or false .*exit\.flushOnExit\)$/],
      [
        { handleSignals: 'SIGTERM' },
        /^must be true, false or a list of signal names like \['SIGTERM', 'SIGINT'\] \(got "SIGTERM"\) .*exit\.handleSignals\)$/,
      ],
      [
        { handleSignals: ['SIGTERM', 'TERM'] },
        /^is not a signal name \(got "TERM"; for example 'SIGTERM'\) .*exit\.handleSignals\[1\]\)$/,
      ],
    ] as const) {
      const p = project({ 'rlm-obs.config.json': JSON.stringify({ sinks: [], exit }) });
      await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(message);
    }
    const before = process.listenerCount('SIGTERM');
    const p = project({
      'rlm-obs.config.json': JSON.stringify({ sinks: [], exit: { handleSignals: ['SIGTERM'] } }),
    });
    const obs = await loadObservability({ ...quiet, cwd: p.dir });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    await obs.shutdown();
  });

  it('sampling.sinks may name a sink by its entry in sinks; a name that matches no sink is a warning, kept for a sink added later', async () => {
    const p = project({
      ...fakeSinkPackage('@rlm/sink-fakeone', 'fake-one'),
      ...fakeSinkPackage('rlm-sink-faketwo', 'fake-two'),
      'rlm-obs.config.json': JSON.stringify({
        sinks: ['fakeone', 'faketwo'],
        sampling: { sinks: { fakeone: 0, 'fake-two': 0 } },
      }),
    });
    const obs = await loadObservability({ ...quiet, cwd: p.dir });
    obs.startRun({ runId: 'sampled', task: 't' }).end();
    await obs.flush();
    const counters = Object.fromEntries(obs.status().map((s) => [s.name, s.counters]));
    expect(counters['fake-one']!.sampledOut).toBeGreaterThan(0);
    expect(counters['fake-one']!.delivered).toBe(0);
    expect(counters['fake-two']!.sampledOut).toBeGreaterThan(0);
    await obs.shutdown();

    // A typo: said, not fatal; a sink of that name added later gets the rate.
    const warnings: string[] = [];
    p.write(
      'rlm-obs.config.json',
      JSON.stringify({ sinks: ['fakeone'], sampling: { sinks: { audit: 0 } } }),
    );
    const later = await loadObservability({
      ...quiet,
      logger: { warn: (m: string) => warnings.push(m) },
      cwd: p.dir,
    });
    expect(warnings).toEqual([
      expect.stringMatching(
        /^sampling\.sinks\.audit \(.*rlm-obs\.config\.json\) names no sink of this config \(fake-one\); it applies only to a sink of that name added later$/,
      ),
    ]);
    const audit = new MemorySink('audit');
    later.addSink(audit);
    later.startRun({ runId: 'later', task: 't' }).end();
    await later.flush();
    expect(audit.count()).toBe(0);
    await later.shutdown();
  });

  it('sampling.sinks naming an entry switched off by a falsy value loads, without a warning', async () => {
    const warnings: string[] = [];
    (globalThis as Record<string, unknown>).__rlmObsOff = undefined;
    const p = project({
      ...fakeSinkPackage('@rlm/sink-fakeone', 'fake-one'),
      'rlm-obs.config.mjs': `export default { sinks: ['fakeone', globalThis.__rlmObsOff && ['otel', {}]], sampling: { sinks: { otel: 0.1 } } };`,
    });
    const obs = await loadObservability({
      ...quiet,
      logger: { warn: (m: string) => warnings.push(m) },
      cwd: p.dir,
    });
    expect(obs.status().map((s) => s.name)).toEqual(['fake-one']);
    expect(warnings).toEqual([]);
    await obs.shutdown();
  });

  it('an unknown top-level key suggests the right one', async () => {
    const p = project({ 'rlm-obs.config.json': JSON.stringify({ sink: ['jsonl'] }) });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      /^unknown key 'sink'; did you mean 'sinks'\? Known keys: enabled, sinks, attributes, sampling, redact, truncate, queue, exit, recordContent, pricing, worker \(.*, sink\)$/,
    );
  });

  it('wrong field types are reported with their key', async () => {
    for (const [config, message] of [
      [
        { sampling: { rate: 2 } },
        /^must be a number from 0 to 1 \(got 2\) \(.*, sampling\.rate\)$/,
      ],
      [{ enabled: 'yes' }, /must be true or false .*enabled\)$/],
      [{ sinks: 'jsonl' }, /must be a list of sinks/],
      [{ queue: { maxQueueSize: -1 } }, /queue\.maxQueueSize\)$/],
      [
        { sinks: [42] },
        /^expected a sink name, \[name, options\], \{ use, options \}, a factory or a sink object .*sinks\[0\]\)$/,
      ],
    ] as const) {
      const p = project({ 'rlm-obs.config.json': JSON.stringify(config) });
      await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(message);
    }
  });

  it('a module without createSink, and a factory that throws', async () => {
    const p = project({
      'no-factory.mjs': 'export const nothing = 1;',
      'throws.mjs': "export function createSink() { throw new Error('missing url'); }",
      'rlm-obs.config.mjs': `export default { sinks: ['./no-factory.mjs'] };`,
    });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      /^sink '\.\/no-factory\.mjs' exports no createSink/,
    );
    p.write('rlm-obs.config.mjs', `export default { sinks: ['./throws.mjs'] };`);
    await expect(
      loadObservability({
        ...quiet,
        cwd: p.dir,
        configFile: path.join(p.dir, 'rlm-obs.config.mjs'),
      }),
    ).rejects.toThrow(/^sink '\.\/throws\.mjs' could not be created: missing url/);
  });

  it('never half-starts: sinks created before an error are shut down', async () => {
    calls().length = 0;
    const p = project({
      ...fakeSinkPackage('@rlm/sink-fake', 'first'),
      'rlm-obs.config.mjs': `export default { sinks: ['fake', 'missing-one'] };`,
    });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      /sink 'missing-one' is not installed/,
    );
    expect(calls()).toContainEqual(['first', 'shutdown']);
  });

  it('builds the sinks concurrently, keeping their order: three factories of 300 ms each load in well under 900 ms', async () => {
    const slow = (name: string) =>
      `export async function createSink() {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { name: ${JSON.stringify(name)}, status: () => ({ name: ${JSON.stringify(name)}, enabled: true, available: true, detail: '' }), onRunStart() {}, onStep() {}, onRunEnd() {} };
}`;
    const p = project({
      'a.mjs': slow('a'),
      'b.mjs': slow('b'),
      'c.mjs': slow('c'),
      'rlm-obs.config.mjs': `export default { sinks: ['./a.mjs', './b.mjs', './c.mjs'] };`,
    });
    const started = performance.now();
    const obs = await loadObservability({ ...quiet, cwd: p.dir });
    const took = performance.now() - started;
    expect(obs.sinks.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    expect(took).toBeLessThan((2 / 3) * 900);
    await obs.shutdown();
  });

  it('concurrent building still never half-starts: the sinks created around a broken entry are shut down, the first broken entry is reported', async () => {
    calls().length = 0;
    const p = project({
      ...fakeSinkPackage('@rlm/sink-fake', 'first'),
      ...fakeSinkPackage('@rlm/sink-other', 'last'),
      'slow-fail.mjs':
        "export async function createSink() { await new Promise((r) => setTimeout(r, 100)); throw new Error('backend refused'); }",
      'rlm-obs.config.mjs': `export default { sinks: ['fake', './slow-fail.mjs', 'missing-one', 'other'] };`,
    });
    const error = await loadObservability({ ...quiet, cwd: p.dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RlmObsConfigError);
    expect((error as RlmObsConfigError).key).toBe('sinks[1]');
    expect((error as Error).message).toMatch(
      /^sink '\.\/slow-fail\.mjs' could not be created: backend refused/,
    );
    expect(calls()).toContainEqual(['first', 'shutdown']);
    expect(calls()).toContainEqual(['last', 'shutdown']);
  });

  it('two sinks with one name are refused', async () => {
    const p = project({
      ...fakeSinkPackage('@rlm/sink-fake', 'same'),
      'rlm-obs.config.mjs': `export default { sinks: ['fake', 'fake'] };`,
    });
    await expect(loadObservability({ ...quiet, cwd: p.dir })).rejects.toThrow(
      /two sinks are named 'same' \(sinks\[0\] and sinks\[1\]\)/,
    );
  });

  it('a missing explicit config file is an error', async () => {
    const p = project({});
    await expect(
      loadObservability({ ...quiet, cwd: p.dir, configFile: 'nope.json' }),
    ).rejects.toThrow(`config file not found (${path.join(p.dir, 'nope.json')})`);
  });

  it('a config file with a syntax error names the file', async () => {
    const p = project({ 'rlm-obs.config.mjs': 'export default { sinks: [ };' });
    const error = await loadObservability({ ...quiet, cwd: p.dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RlmObsConfigError);
    expect((error as RlmObsConfigError).file).toBe(path.join(p.dir, 'rlm-obs.config.mjs'));
    expect((error as Error).message).toMatch(/^could not load the config: /);
  });
});
