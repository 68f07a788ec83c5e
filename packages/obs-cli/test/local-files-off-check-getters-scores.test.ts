/**
 * The directory check runs only where the local files will be written; a `check()` answer
 * whose fields throw is that sink's problem (and an unexpected error never shows a config's
 * secret); score values keep up to 6 significant digits in `tail` and `show`. The built
 * binary for the directory and the checks (a directory under /proc would make an in-process
 * `mkdir` spin), `main()` in-process for the rest.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import pc from 'picocolors';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkSink } from '../src/check-sink.js';
import type { Io } from '../src/output.js';
import { main } from '../src/program.js';
import { rlmObs, tempDir } from './cli-helpers.js';

const SECRET = 'sekr1tTOKEN99-fb3';
let tmp: ReturnType<typeof tempDir>;

beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.remove());

/** A project with `rlm-obs.config.mjs` = `export default <config>` and the sinks of `files`. */
function project(name: string, config: string, files: Record<string, string> = {}): string {
  const dir = path.join(tmp.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'rlm-obs.config.mjs'), `export default ${config};\n`);
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text);
  return dir;
}

function memoryIo(): Io & { text: () => string } {
  const lines: string[] = [];
  return {
    out: (t) => lines.push(t),
    err: (t) => lines.push(t),
    colors: pc.createColors(false),
    isTTY: false,
    text: () => lines.join('\n'),
  };
}

/** A sink whose `check()` answers according to `mode`; its error messages quote `token`. */
const CHECKS_SINK = `export default function createSink(o) {
  const modes = {
    fine: async () => ({ ok: true, problems: [] }),
    okGetter: async () => ({ get ok() { throw new Error('getter ' + o.token); }, problems: [] }),
    proxy: async () =>
      new Proxy({}, { get(t, p) { if (p === 'then') return undefined; throw new Error('proxy ' + o.token); } }),
    problemGetter: async () => ({ ok: false, problems: [{ get problem() { throw new Error('pg ' + o.token); }, fix: 'f' }] }),
  };
  const sink = {
    name: o.name,
    status() { return { name: o.name, enabled: true, available: true, detail: '' }; },
    onRunStart() {}, onStep() {}, onRunEnd() {},
  };
  if (o.mode === 'checkGetter')
    Object.defineProperty(sink, 'check', { get() { throw new Error('check getter ' + o.token); } });
  else sink.check = modes[o.mode];
  return sink;
}
`;

describe.skipIf(!fs.existsSync('/proc/self'))(
  'a local files directory that cannot be created, where the local files are off (Linux only)',
  () => {
    const refused = /cannot create the local files' directory/;

    it('switched off in the environment: status, doctor and demo check and run as usual', async () => {
      const cwd = path.join(tmp.dir, 'env-off');
      fs.mkdirSync(cwd, { recursive: true });
      for (const flag of ['DSPY_RLM_OBS_LOCAL_JSONL', 'DSPY_RLM_OBS_ENABLED']) {
        const env = { [flag]: 'false', RLM_OBS_JSONL_DIR: '/proc/zz' };
        const status = await rlmObs(['status', '--json'], { cwd, env });
        expect(status.stderr, flag).not.toMatch(refused);
        expect(status.code, flag).toBe(0);
        const demo = await rlmObs(['demo', '--runs', '1', '--steps', '2', '--json'], { cwd, env });
        expect(demo.stderr, flag).not.toMatch(refused);
        expect(demo.code, flag).toBe(0);
        expect(JSON.parse(demo.stdout)).toMatchObject({ recorded: false, dir: null });
      }
      // The other sinks are checked: an enabled OpenTelemetry sink is reported (not installed here).
      const doctor = await rlmObs(['doctor', '--json'], {
        cwd,
        env: {
          DSPY_RLM_OBS_LOCAL_JSONL: 'false',
          DSPY_RLM_OTEL_ENABLED: 'true',
          RLM_OBS_JSONL_DIR: '/proc/zz',
        },
      });
      expect(doctor.stderr).not.toMatch(refused);
      expect(doctor.code).toBe(1);
      const sinks = JSON.parse(doctor.stdout).sinks as Array<{ name: string; enabled: boolean }>;
      expect(sinks.find((s) => s.name === 'opentelemetry')).toMatchObject({ enabled: true });
      expect(fs.existsSync(path.join(cwd, '.rlm_code'))).toBe(false);
    }, 120_000);

    it('a config without the local files, with them disabled or switched off; --dir keeps the entry disabled', async () => {
      for (const [name, config] of [
        ['no-jsonl', `{ sinks: [['./checks.mjs', { name: 'c', mode: 'fine' }]] }`],
        ['jsonl-disabled', `{ sinks: [['jsonl', { enabled: false }]] }`],
        ['use-disabled', `{ sinks: [{ use: 'jsonl', options: { enabled: false } }] }`],
        ['master-off', `{ enabled: false, sinks: ['jsonl'] }`],
      ] as const) {
        const cwd = project(name, config, { 'checks.mjs': CHECKS_SINK });
        const env = { RLM_OBS_JSONL_DIR: '/proc/zz' };
        for (const args of [
          ['status', '--json'],
          ['doctor', '--json'],
          ['status', '--dir', '/proc/zz/d', '--json'],
        ]) {
          const out = await rlmObs(args, { cwd, env });
          expect(out.stderr, `${name}: ${args.join(' ')}`).not.toMatch(refused);
          expect(out.code, `${name}: ${args.join(' ')}`).toBe(0);
          // The local sink (where there is one) stays disabled, --dir or not.
          const local = JSON.parse(out.stdout).sinks.find(
            (s: { name: string }) => s.name === 'local-jsonl',
          );
          if (local) expect(local.enabled, `${name}: ${args.join(' ')}`).toBe(false);
        }
      }
      // Where the config does use the local files, the directory is still refused.
      const on = project('jsonl-on', `{ sinks: ['jsonl'] }`);
      const refusedOut = await rlmObs(['status'], {
        cwd: on,
        env: { RLM_OBS_JSONL_DIR: '/proc/zz' },
      });
      expect(refusedOut.code).toBe(2);
      expect(refusedOut.stderr).toMatch(refused);
    }, 120_000);
  },
);

describe('check() answers whose fields throw when read', () => {
  it('doctor: an invalid result of that sink, every sink reported, no secret', async () => {
    const sink = (name: string, mode: string) =>
      `['./checks.mjs', { name: '${name}', mode: '${mode}', token: '\${TOK}' }]`;
    const cwd = project(
      'getters',
      `{ sinks: ['jsonl', ${sink('g', 'okGetter')}, ${sink('p', 'proxy')}, ${sink('pg', 'problemGetter')}, ${sink('cg', 'checkGetter')}] }`,
      { 'checks.mjs': CHECKS_SINK },
    );
    const env = { TOK: SECRET };
    const text = await rlmObs(['doctor'], { cwd, env });
    expect(text.code).toBe(1);
    expect(text.stderr).toBe('');
    for (const name of ['g', 'p', 'pg'])
      expect(text.stdout).toMatch(
        new RegExp(`✗ ${name}\\n {4}problem: check\\(\\) returned an invalid result`),
      );
    expect(text.stdout).toMatch(/✗ cg\n {4}problem: check failed: check getter \[REDACTED\]/);
    expect(text.stdout).toContain('4 enabled sink(s) unusable');
    expect(text.stdout + text.stderr).not.toContain(SECRET);
    const json = await rlmObs(['doctor', '--json'], { cwd, env });
    expect(json.code).toBe(1);
    expect(
      JSON.parse(json.stdout).sinks.map((s: { name: string; ok: boolean }) => [s.name, s.ok]),
    ).toEqual([
      ['local-jsonl', true],
      ['g', false],
      ['p', false],
      ['pg', false],
      ['cg', false],
    ]);
    expect(json.stdout + json.stderr).not.toContain(SECRET);
  }, 60_000);

  it('checkSink: a getter that throws is an invalid result', async () => {
    const base = {
      name: 'x',
      status: () => ({ name: 'x', enabled: true, available: true, detail: '' }),
    };
    const result = await checkSink(
      {
        ...base,
        check: async () =>
          ({
            get ok(): boolean {
              throw new Error('no');
            },
            problems: [],
          }) as never,
      } as never,
      'fix it',
    );
    expect(result.ok).toBe(false);
    expect(result.problems[0]!.problem).toContain('check() returned an invalid result');
  });

  it("an unexpected error is printed without the config's secrets", async () => {
    const cwd = project(
      'unexpected',
      `{ sinks: [['./checks.mjs', { name: 'u', mode: 'okGetter', token: '\${TOK}' }]] }`,
      { 'checks.mjs': CHECKS_SINK },
    );
    process.env.TOK = SECRET;
    const spy = vi
      .spyOn(RLMObservability.prototype, 'shutdown')
      .mockRejectedValueOnce(new Error(`shutdown went wrong with ${SECRET}`));
    try {
      const io = memoryIo();
      const code = await main(['status', '--config', path.join(cwd, 'rlm-obs.config.mjs')], io);
      expect(code).toBe(1);
      expect(io.text()).toContain('rlm-obs: shutdown went wrong with [REDACTED]');
      expect(io.text()).not.toContain(SECRET);
    } finally {
      spy.mockRestore();
      delete process.env.TOK;
    }
  });
});

describe('score values: up to 6 significant digits', () => {
  it('tail and show print small and long scores as formatValue does', async () => {
    const dir = path.join(tmp.dir, 'scores');
    fs.mkdirSync(path.join(dir, 'steps'), { recursive: true });
    const at = '2026-02-03T04:05:06.007Z';
    const line = (value: unknown) => `${JSON.stringify(value)}\n`;
    fs.writeFileSync(
      path.join(dir, 'starts.jsonl'),
      line({ timestamp: at, run_id: 'tiny', task: 'q', environment: 'e' }),
    );
    fs.writeFileSync(
      path.join(dir, 'runs.jsonl'),
      line({ timestamp: at, run_id: 'tiny', completed: true, steps: 0, total_reward: 1.23e-7 }),
    );
    const score = (name: string, value: unknown) =>
      line({ timestamp: at, run_id: 'tiny', name, value, kind: 'score', source: 'judge', at });
    fs.writeFileSync(
      path.join(dir, 'scores.jsonl'),
      score('tiny', 1.23e-7) + score('long', 0.123456789) + score('label', 'good'),
    );
    const tail = memoryIo();
    expect(await main(['tail', '--dir', dir], tail)).toBe(0);
    expect(tail.text()).toContain('tiny score tiny = 1.23e-7 source judge');
    expect(tail.text()).toContain('tiny score long = 0.123457 source judge');
    expect(tail.text()).toContain('tiny score label = "good" source judge');
    const show = memoryIo();
    expect(await main(['show', 'tiny', '--dir', dir], show)).toBe(0);
    expect(show.text()).toMatch(/tiny = 1\.23e-7 {2}score/);
    expect(show.text()).toMatch(/long = 0\.123457 {2}score/);
    expect(show.text()).toContain('rlm.total_reward = 1.23e-7');
  });
});
