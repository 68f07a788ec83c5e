/**
 * Through the built binary (and `checkSink` directly): sink checks that wait on an unref'ed
 * timer or break the check contract, `demo` with the local files switched off, `show --code`
 * keeping code's lines, a `--dir` that does not exist, and numbers and details as displayed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RLMObservabilitySink, SinkCheckResult } from '@rlm/obs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSink } from '../src/check-sink.js';
import { formatValue, textLines } from '../src/output.js';
import { rlmObs, spawnRlmObs, tempDir } from './cli-helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.remove());

const line = (value: unknown) => `${JSON.stringify(value)}\n`;

/** Waits until `check()` holds or the deadline passes (the assertions after it decide). */
async function until(check: () => boolean, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

/** A project directory with the sink modules under s/ and this config. */
function project(name: string, config: string): string {
  const dir = path.join(tmp.dir, name);
  fs.mkdirSync(path.join(dir, 's'), { recursive: true });
  const base = (sinkName: string, available: boolean) =>
    `{ name: ${sinkName}, status: () => ({ name: ${sinkName}, enabled: true, available: ${available}, detail: ${available ? "''" : "'backend down, retrying'"} }), onRunStart() {}, onStep() {}, onRunEnd() {} }`;
  // Unavailable; its check answers after a second, on an unref'ed timer (nothing else keeps
  // the process alive meanwhile).
  fs.writeFileSync(
    path.join(dir, 's', 'retry.mjs'),
    `export function createSink() {
  const s = ${base("'retry'", false)};
  s.check = () => new Promise((resolve) => setTimeout(() => resolve({ ok: false, problems: [{ problem: 'still down', fix: 'start it' }] }), 1000).unref());
  return s;
}`,
  );
  fs.writeFileSync(
    path.join(dir, 's', 'chk.mjs'),
    `export function createSink(o = {}) {
  const s = ${base('o.name', false)};
  if (o.mode === 'throw') s.check = () => { throw new Error('check exploded'); };
  if (o.mode === 'weird') s.check = async () => 42;
  if (o.mode === 'problems') s.check = async () => ({ ok: false, problems: [{ problem: 'p1', fix: 'f1' }] });
  return s;
}`,
  );
  fs.writeFileSync(
    path.join(dir, 's', 'default-only.mjs'),
    `export default () => (${base("'d-only'", true)});`,
  );
  fs.writeFileSync(path.join(dir, 'rlm-obs.config.mjs'), `export default ${config};`);
  return dir;
}

describe('sink checks', () => {
  it("doctor and replay --to wait for a check that waits on an unref'ed timer (no silent exit 13)", async () => {
    const dir = project('unref', `{ sinks: ['jsonl', './s/retry.mjs', './s/default-only.mjs'] }`);
    const doctor = await rlmObs(['doctor'], { cwd: dir });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toContain('✗ retry');
    expect(doctor.stdout).toContain('problem: still down');
    expect(doctor.stdout).toContain('fix:     start it');
    expect(doctor.stdout).toContain('1 enabled sink(s) unusable');
    // An empty detail: no stray colon and double space.
    expect(doctor.stdout).toContain('✓ d-only: no active check; setup succeeded');
    expect(doctor.stdout).not.toContain('d-only:  ');

    const recorded = await rlmObs(['demo', '--runs', '1', '--steps', '2', '--dir', 'obs'], {
      cwd: dir,
    });
    expect(recorded.code).toBe(1); // the unavailable sink
    const replay = await rlmObs(['replay', '--all', '--dir', 'obs', '--to', 'retry'], {
      cwd: dir,
    });
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain(
      "--to retry: the sink 'retry' is unavailable: still down (fix: start it)",
    );
  }, 60_000);

  it('doctor reports each sink whose check throws at once or answers something else', async () => {
    const dir = project(
      'contract',
      `{ sinks: ['jsonl', ['./s/chk.mjs', { name: 't', mode: 'throw' }], ['./s/chk.mjs', { name: 'w', mode: 'weird' }], ['./s/chk.mjs', { name: 'p', mode: 'problems' }]] }`,
    );
    const doctor = await rlmObs(['doctor'], { cwd: dir });
    expect(doctor.code).toBe(1);
    expect(doctor.stderr).toBe('');
    expect(doctor.stdout).toMatch(/✗ t\n {4}problem: check failed: check exploded\n/);
    expect(doctor.stdout).toMatch(/✗ w\n {4}problem: check\(\) returned an invalid result/);
    expect(doctor.stdout).toMatch(/✗ p\n {4}problem: p1\n {4}fix: {5}f1\n/);
    expect(doctor.stdout).toContain('✓ local-jsonl');
    expect(doctor.stdout).toContain('3 enabled sink(s) unusable');
    const json = JSON.parse((await rlmObs(['doctor', '--json'], { cwd: dir })).stdout);
    expect(json.sinks.map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual([
      ['local-jsonl', true],
      ['t', false],
      ['w', false],
      ['p', false],
    ]);
  }, 60_000);

  it('checkSink: a synchronous throw, a result of the wrong shape and a good result', async () => {
    const sink = (check: () => unknown) =>
      ({ name: 'x', check }) as unknown as RLMObservabilitySink & {
        check: () => Promise<SinkCheckResult>;
      };
    const thrown = await checkSink(
      sink(() => {
        throw new Error('at once');
      }),
      'the fix',
    );
    expect(thrown).toEqual({
      ok: false,
      problems: [{ problem: 'check failed: at once', fix: 'the fix' }],
    });
    for (const answer of [
      42,
      null,
      undefined,
      { ok: true },
      { ok: 'yes', problems: [] },
      { ok: false, problems: [{ problem: 1, fix: 'f' }] },
      { ok: false, problems: [null] },
    ]) {
      const result = await checkSink(
        sink(async () => answer),
        'the fix',
      );
      expect(result.ok, JSON.stringify(answer)).toBe(false);
      expect(result.problems[0]!.problem).toMatch(/^check\(\) returned an invalid result/);
    }
    expect(
      await checkSink(
        sink(async () => ({ ok: true, problems: [], detail: 'fine' })),
        'f',
      ),
    ).toEqual({ ok: true, problems: [], detail: 'fine' });
  });
});

describe('demo with the local files switched off', () => {
  it('says nothing was recorded and why, with no pointers to records; --json says so too', async () => {
    const dir = path.join(tmp.dir, 'off');
    fs.mkdirSync(dir);
    const off = await rlmObs(['demo', '--runs', '1', '--steps', '2'], {
      cwd: dir,
      env: { DSPY_RLM_OBS_LOCAL_JSONL: 'false' },
    });
    expect(off.code).toBe(0);
    expect(off.stdout).toContain(
      'nothing recorded: local-jsonl is disabled (DSPY_RLM_OBS_LOCAL_JSONL=false)',
    );
    expect(off.stdout).toContain('unset DSPY_RLM_OBS_LOCAL_JSONL');
    expect(off.stdout).not.toContain('records:');
    expect(off.stdout).not.toContain('next:');
    expect(off.stdout).not.toContain('rlm-obs runs');
    expect(fs.existsSync(path.join(dir, '.rlm_code'))).toBe(false);

    const json = JSON.parse(
      (
        await rlmObs(['demo', '--runs', '1', '--steps', '2', '--json'], {
          cwd: dir,
          env: { DSPY_RLM_OBS_LOCAL_JSONL: 'false' },
        })
      ).stdout,
    );
    expect(json).toMatchObject({
      dir: null,
      recorded: false,
      notRecorded: {
        reason: 'local-jsonl is disabled (DSPY_RLM_OBS_LOCAL_JSONL=false)',
        fix: 'unset DSPY_RLM_OBS_LOCAL_JSONL',
      },
    });

    const master = await rlmObs(['demo', '--runs', '1', '--steps', '2'], {
      cwd: dir,
      env: { DSPY_RLM_OBS_ENABLED: 'false' },
    });
    expect(master.code).toBe(0);
    expect(master.stdout).toContain(
      'nothing recorded: observability is switched off (DSPY_RLM_OBS_ENABLED=false)',
    );
    expect(master.stdout).not.toContain('records:');
    expect(master.stdout).not.toContain('next:');

    // Recorded: the pointers, and --json says where.
    const on = await rlmObs(['demo', '--runs', '1', '--steps', '2', '--json'], { cwd: dir });
    expect(JSON.parse(on.stdout)).toMatchObject({
      recorded: true,
      dir: path.join(dir, '.rlm_code/rlm/observability'),
    });
  }, 60_000);
});

describe('show --code', () => {
  const CODE = 'for i in range(3):\n    if i: print(i)\nprint("done")\n';
  let dir: string;
  beforeAll(() => {
    dir = path.join(tmp.dir, 'code');
    fs.mkdirSync(path.join(dir, 'steps'), { recursive: true });
    const at = (i: number) => new Date(Date.parse('2026-01-01T00:00:00.000Z') + i).toISOString();
    fs.writeFileSync(
      path.join(dir, 'starts.jsonl'),
      line({
        timestamp: at(0),
        run_id: 'code-run',
        started_at: at(0),
        task: 't',
        environment: 'e',
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'runs.jsonl'),
      line({
        timestamp: at(5),
        run_id: 'code-run',
        started_at: at(0),
        finished_at: at(5),
        completed: true,
        steps: 2,
        total_reward: 0.9700000000000002,
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'steps', 'code-run.jsonl'),
      line({
        timestamp: at(2),
        run_id: 'code-run',
        step: 1,
        action: 'run_python',
        reward: 0.30000000000000004,
        success: true,
        event: {
          step: 1,
          action: { action: 'run_python', code: CODE },
          observation: { success: true, output: '1\n2\ndone\n\tend\u001b[2J' },
          reward: 0.30000000000000004,
        },
      }) +
        line({
          timestamp: at(3),
          run_id: 'code-run',
          step: 2,
          action: 'run_python',
          reward: 0.6700000000000002,
          success: false,
          event: {
            step: 2,
            action: { action: 'run_python', code: 'x = 1\r\ny = 2' },
            observation: { success: false, error: 'Traceback\n  line 1\nNameError: x' },
            reward: 0.6700000000000002,
          },
        }),
    );
  });

  it('prints code and output line by line under the tree, control characters escaped', async () => {
    const out = await rlmObs(['show', 'code-run', '--code', '--dir', dir], { cwd: tmp.dir });
    expect(out.code).toBe(0);
    const lines = out.stdout.split('\n');
    const at = lines.findIndex((l) => l.endsWith('code:'));
    expect(lines.slice(at, at + 9)).toEqual([
      '|  |     code:',
      '|  |       for i in range(3):',
      '|  |           if i: print(i)',
      '|  |       print("done")',
      '|  |     output:',
      '|  |       1',
      '|  |       2',
      '|  |       done',
      '|  |       \\tend\\x1b[2J',
    ]);
    expect(out.stdout).toContain('|  |     code:\n|  |       x = 1\n|  |       y = 2\n');
    // The compact views stay on one line.
    expect(out.stdout).toContain('|  |     error: Traceback line 1 NameError: x');
    const plain = await rlmObs(['show', 'code-run', '--dir', dir], { cwd: tmp.dir });
    expect(plain.stdout).not.toContain('print(i)');
  });

  it('tail shows rewards with up to 6 significant digits', async () => {
    const out = await rlmObs(['tail', '--dir', dir], { cwd: tmp.dir });
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('step 1 run_python reward=0.3 ');
    expect(out.stdout).toContain('step 2 run_python reward=0.67 ');
    expect(out.stdout).toContain('steps=2 reward=0.97');
    expect(out.stdout).not.toMatch(/0000000/);
  });

  it('textLines and formatValue', () => {
    expect(textLines('a\n  b\r\nc\n')).toEqual(['a', '  b', 'c']);
    expect(textLines('a\rb\u0000')).toEqual(['a\\rb\\x00']);
    expect(textLines('1\n2\n3\n4', 2)).toEqual(['1', '2', '… 2 more lines (--json has them all)']);
    expect(formatValue(0.9700000000000002)).toBe('0.97');
    expect(formatValue(1 / 3)).toBe('0.333333');
    expect(formatValue(1234567)).toBe('1234567');
    expect(formatValue(-2.5)).toBe('-2.5');
    expect(formatValue('x\ny')).toBe('x y');
  });
});

describe('a directory that does not exist', () => {
  it('runs, show, tail, query and replay say so (exit 1); the default directory of a fresh project does not', async () => {
    const missing = path.join(tmp.dir, 'typo-dir');
    for (const args of [
      ['runs'],
      ['runs', '--json'],
      ['show', 'abc'],
      ['tail'],
      ['query', 'SELECT count(*) FROM runs'],
      ['replay', '--all', '--to', 'jsonl'],
    ]) {
      const out = await rlmObs([...args, '-d', missing], { cwd: tmp.dir });
      expect(out.code, args.join(' ')).toBe(1);
      expect(out.stderr, args.join(' ')).toContain(`no such directory: ${missing} (from --dir`);
      expect(out.stdout, args.join(' ')).toBe('');
    }
    const env = await rlmObs(['runs'], { cwd: tmp.dir, env: { RLM_OBS_JSONL_DIR: missing } });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain(`no such directory: ${missing} (from RLM_OBS_JSONL_DIR`);
    const file = path.join(tmp.dir, 'a-file');
    fs.writeFileSync(file, 'x\n');
    const notDir = await rlmObs(['runs', '-d', file], { cwd: tmp.dir });
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toContain(`not a directory: ${file}`);

    const fresh = path.join(tmp.dir, 'fresh');
    fs.mkdirSync(fresh);
    const runs = await rlmObs(['runs'], { cwd: fresh });
    expect(runs.code).toBe(0);
    expect(runs.stdout).toContain('no runs in');
  }, 60_000);

  it('tail -f says it does not exist yet and prints its records once it is written', async () => {
    const later = path.join(tmp.dir, 'later');
    const child = spawnRlmObs(['tail', '-f', '-d', later, '--interval', '50'], tmp.dir);
    let seen = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await until(() => err.includes('does not exist yet'));
      expect(err).toContain(`${later} does not exist yet; waiting for it to appear`);
      fs.mkdirSync(later);
      fs.writeFileSync(
        path.join(later, 'starts.jsonl'),
        line({ timestamp: new Date().toISOString(), run_id: 'late-run', task: 'late task' }),
      );
      await until(() => seen.includes('late-run start late task'));
      expect(seen).toContain('late-run start late task');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 30_000);

  it('view says it does not exist yet and serves', async () => {
    const later = path.join(tmp.dir, 'later-view');
    const child = spawnRlmObs(['view', '-d', later, '--json'], tmp.dir);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await until(() => out.includes('\n') && err.includes('does not exist yet'));
      const { url } = JSON.parse(out.split('\n')[0]!) as { url: string };
      expect(err).toContain(`${later} does not exist yet`);
      const response = await fetch(new URL('/api/runs', url));
      expect(response.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 30_000);
});
