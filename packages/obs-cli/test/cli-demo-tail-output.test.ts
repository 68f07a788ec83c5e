/**
 * Through the built binary: `demo` when the local files cannot be written and with bad
 * numbers, `tail` with `-n`, lines that are not records and steps files that rotate under
 * `tail -f`, control characters from records in human-readable output, `runs` filters that
 * match nothing, and the viewer's URL and API errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, rlmObs, spawnRlmObs, tempDir } from './cli-helpers.js';

let tmp: ReturnType<typeof tempDir>;
/** A directory whose name needs quoting in a shell, recorded by `demo --runs 1`. */
const SPACED = "my dir's obs";
let oneRun: CliResult;

beforeAll(async () => {
  tmp = tempDir();
  oneRun = await rlmObs(['demo', '--dir', SPACED, '--runs', '1', '--steps', '2'], {
    cwd: tmp.dir,
  });
}, 60_000);
afterAll(() => tmp.remove());

/** Waits until `check()` holds or the deadline passes (the assertions after it decide). */
async function until(check: () => boolean, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

const line = (value: unknown) => `${JSON.stringify(value)}\n`;
/** Every control character but the newline. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('rlm-obs demo', () => {
  it('when the local files cannot be written: ✗ with the sink error, exit 1, no pointers to files', async () => {
    fs.writeFileSync(path.join(tmp.dir, 'afile'), 'hi\n');
    const out = await rlmObs(['demo', '--dir', 'afile'], { cwd: tmp.dir });
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('✗ local-jsonl');
    expect(out.stdout).not.toContain('✓ local-jsonl');
    expect(out.stdout).toMatch(/problem: .*not a directory/);
    expect(out.stdout).not.toContain('records:');
    expect(out.stdout).not.toContain('next:');
    expect(out.stderr).toContain('the local files were not written');
    expect(fs.readFileSync(path.join(tmp.dir, 'afile'), 'utf8')).toBe('hi\n');

    const json = await rlmObs(['demo', '--dir', 'afile', '--json'], { cwd: tmp.dir });
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      { sink: 'local-jsonl', problem: expect.stringContaining('not a directory') },
    ]);
  });

  // Node's recursive mkdir never returns under /proc: the commands must refuse such a
  // directory instead of spinning. /proc exists on Linux only.
  it.skipIf(!fs.existsSync('/proc/self'))(
    'a directory that cannot be created (under /proc): exit 2 with a clear message, no hang (Linux only)',
    async () => {
      for (const args of [
        ['demo', '--dir', '/proc/nope'],
        ['doctor', '--dir', '/proc/nope/deeper'],
        ['status', '--dir', '/proc/nope', '--json'],
      ]) {
        const out = await rlmObs(args, { cwd: tmp.dir });
        expect(out.code, args.join(' ')).toBe(2);
        expect(out.stderr, args.join(' ')).toMatch(
          /cannot create the local files' directory \/proc\/nope.* \(--dir\): no directory can be made in \/proc/,
        );
        expect(out.stdout, args.join(' ')).toBe('');
      }
      const env = await rlmObs(['status'], {
        cwd: tmp.dir,
        env: { RLM_OBS_JSONL_DIR: '/proc/nope' },
      });
      expect(env.code).toBe(2);
      expect(env.stderr).toContain('(RLM_OBS_JSONL_DIR)');
      // A directory that can be made still is, with its parents.
      const made = await rlmObs(['demo', '--dir', 'new/deep/obs', '--runs', '1', '--json'], {
        cwd: tmp.dir,
      });
      expect(made.code).toBe(0);
      expect(fs.existsSync(path.join(tmp.dir, 'new', 'deep', 'obs', 'runs.jsonl'))).toBe(true);
      expect(fs.readdirSync(tmp.dir).filter((n) => n.startsWith('.rlm-obs-probe'))).toEqual([]);
    },
    120_000,
  );

  it('bad numbers are usage errors (exit 2) before anything is recorded', async () => {
    for (const args of [
      ['--runs', 'abc'],
      ['--runs', '0'],
      ['--runs', '-1'],
      ['--steps', 'x'],
      ['--steps', '1.5'],
      ['--seed', 'abc'],
    ]) {
      const out = await rlmObs(['demo', '--dir', 'never', ...args], { cwd: tmp.dir });
      expect(out.code, args.join(' ')).toBe(2);
      expect(out.stderr, args.join(' ')).toContain(`${args[0]} must be a whole number`);
      expect(out.stdout, args.join(' ')).toBe('');
    }
    expect(fs.existsSync(path.join(tmp.dir, 'never'))).toBe(false);
  });

  it('one run: no claim of a failing run, no `show --code` without an id; --dir quoted in the hints', () => {
    expect(oneRun.code).toBe(0);
    expect(oneRun.stdout).not.toContain('that fails');
    expect(oneRun.stdout).toContain('rlm-obs demo: 1 run (2 nested sub-runs)');
    expect(oneRun.stdout).not.toContain('--code');
    expect(oneRun.stdout).not.toMatch(/show +--/);
    expect(oneRun.stdout).toContain(`rlm-obs runs --dir 'my dir'\\''s obs'`);
    expect(oneRun.stdout).toMatch(/rlm-obs show [0-9a-f-]{13} --dir 'my dir'\\''s obs'/);
  });
});

describe('rlm-obs tail', () => {
  it('-n 0 prints no record; -n takes a whole number, else exit 2; so does --interval', async () => {
    const none = await rlmObs(['tail', '--dir', SPACED, '-n', '0'], { cwd: tmp.dir });
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    const two = await rlmObs(['tail', '--dir', SPACED, '-n', '2'], { cwd: tmp.dir });
    expect(two.stdout.trim().split('\n')).toHaveLength(2);
    for (const args of [
      ['-n', 'abc'],
      ['-n', '-3'],
      ['-n', '1.5'],
      ['--interval', 'abc'],
      ['--interval', '0'],
    ]) {
      const out = await rlmObs(['tail', '--dir', SPACED, ...args], { cwd: tmp.dir });
      expect(out.code, args.join(' ')).toBe(2);
      expect(out.stdout, args.join(' ')).toBe('');
    }
  });

  it('skips lines that are JSON but not records (null, a number, a list, a string)', async () => {
    const dir = path.join(tmp.dir, 'not-records');
    fs.mkdirSync(dir);
    const at = '2026-01-01T00:00:00.000Z';
    fs.writeFileSync(
      path.join(dir, 'starts.jsonl'),
      `${line({ timestamp: at, run_id: 'r1', task: 't', environment: 'e' })}null\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'runs.jsonl'),
      `null\n3\n[1]\n"text"\n${line({ timestamp: at, run_id: 'r1', completed: true, steps: 0, total_reward: 0 })}`,
    );
    const out = await rlmObs(['tail', '--dir', dir], { cwd: tmp.dir });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n')).toEqual([
      expect.stringContaining('r1 start t (e)'),
      expect.stringContaining('r1 end completed'),
    ]);
  });

  it('-f -n 0 prints only new records, each once, while a steps file rotates into ~n parts', async () => {
    const dir = path.join(tmp.dir, 'rotating');
    const steps = path.join(dir, 'steps');
    fs.mkdirSync(steps, { recursive: true });
    const base = Date.parse('2026-01-01T00:00:00.000Z');
    const at = (i: number) => new Date(base + i * 1000).toISOString();
    // Already there: not printed with -n 0.
    fs.writeFileSync(
      path.join(dir, 'starts.jsonl'),
      line({ timestamp: at(0), run_id: 'rot', task: 'rotation', environment: 'e' }),
    );
    fs.writeFileSync(
      path.join(steps, 'old.jsonl'),
      line({ timestamp: at(0), run_id: 'old', step: 1, action: 'a', reward: 0, success: true }),
    );
    const current = path.join(steps, 'rot.jsonl');
    const step = (n: number) =>
      fs.appendFileSync(
        current,
        line({
          timestamp: at(n),
          run_id: 'rot',
          step: n,
          action: 'run_python',
          reward: 0.1,
          success: true,
        }),
      );
    // As the sink rotates (jsonl-writer's #rotate): the current file renamed to its next free
    // part; the next write creates a new current file.
    const rotate = (part: number) => fs.renameSync(current, path.join(steps, `rot~${part}.jsonl`));

    const child = spawnRlmObs(['tail', '-f', '--dir', dir, '-n', '0', '--interval', '50'], tmp.dir);
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
      await until(() => err.includes('following'));
      step(1);
      step(2);
      await until(() => seen.includes('rot step 2 '));
      // Rotation between two looks, the new current file longer than the old one was read.
      step(3);
      rotate(1);
      step(4);
      step(5);
      step(6);
      await until(() => seen.includes('rot step 6 '));
      // Rotation right after a look, and the new current file created a look later.
      step(7);
      await until(() => seen.includes('rot step 7 '));
      rotate(2);
      await new Promise((r) => setTimeout(r, 150));
      step(8);
      step(9);
      rotate(3);
      step(10);
      fs.appendFileSync(
        path.join(dir, 'runs.jsonl'),
        `null\n${line({ timestamp: at(11), run_id: 'rot', completed: true, steps: 10, total_reward: 1 })}`,
      );
      await until(() => seen.includes('rot end completed') && seen.includes('rot step 10 '));
      // A last look or two, for any line read twice.
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      child.kill('SIGINT');
    }
    const code = await exited;
    const lines = seen.trim().split('\n');
    for (let n = 1; n <= 10; n++)
      expect(
        lines.filter((l) => l.includes(`rot step ${n} `)),
        `step ${n}`,
      ).toHaveLength(1);
    expect(lines.filter((l) => l.includes('rot end completed'))).toHaveLength(1);
    expect(seen).not.toContain('rot start');
    expect(seen).not.toContain('old step');
    expect(lines).toHaveLength(11);
    expect(err).not.toContain('Cannot read');
    expect(code).toBe(0);
  }, 60_000);

  it('records of one millisecond in run order (start, steps, scores, end); scores and feedback shown, also with -f', async () => {
    const dir = path.join(tmp.dir, 'same-ms');
    fs.mkdirSync(path.join(dir, 'steps'), { recursive: true });
    const at = '2026-02-03T04:05:06.007Z';
    fs.writeFileSync(
      path.join(dir, 'starts.jsonl'),
      line({ timestamp: at, run_id: 'fast', task: 'quick', environment: 'e' }),
    );
    fs.writeFileSync(
      path.join(dir, 'runs.jsonl'),
      line({ timestamp: at, run_id: 'fast', completed: true, steps: 2, total_reward: 1.5 }),
    );
    fs.writeFileSync(
      path.join(dir, 'steps', 'fast.jsonl'),
      line({ timestamp: at, run_id: 'fast', step: 1, action: 'a', reward: 0.5, success: true }) +
        line({ timestamp: at, run_id: 'fast', step: 2, action: 'b', reward: 1, success: true }),
    );
    const score = (name: string, value: unknown, extra: Record<string, unknown> = {}) =>
      line({
        timestamp: at,
        run_id: 'fast',
        name,
        value,
        kind: 'score',
        source: 'rlm-obs',
        at,
        ...extra,
      });
    fs.writeFileSync(
      path.join(dir, 'scores.jsonl'),
      score('reward', 1.5) + score('completed', true),
    );
    const out = await rlmObs(['tail', '--dir', dir], { cwd: tmp.dir });
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n')).toEqual([
      expect.stringContaining('fast start quick (e)'),
      expect.stringContaining('fast step 1 a'),
      expect.stringContaining('fast step 2 b'),
      expect.stringContaining('fast score reward = 1.5 source rlm-obs'),
      expect.stringContaining('fast score completed = true source rlm-obs'),
      expect.stringContaining('fast end completed'),
    ]);
    const json = await rlmObs(['tail', '--dir', dir, '--json'], { cwd: tmp.dir });
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).kind),
    ).toEqual(['start', 'step', 'step', 'score', 'score', 'end']);

    // Feedback given later reaches a running tail -f.
    const child = spawnRlmObs(['tail', '-f', '--dir', dir, '-n', '0', '--interval', '50'], tmp.dir);
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
      await until(() => err.includes('following'));
      fs.appendFileSync(
        path.join(dir, 'scores.jsonl'),
        line({
          timestamp: '2026-02-03T04:06:00.000Z',
          run_id: 'fast',
          name: 'thumbs_up',
          value: true,
          kind: 'feedback',
          source: 'user-1',
          comment: 'nice',
          at: '2026-02-03T04:06:00.000Z',
        }),
      );
      await until(() => seen.includes('thumbs_up'));
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(seen.trim().split('\n')).toEqual([
      expect.stringContaining('fast feedback thumbs_up = true source user-1 "nice"'),
    ]);
  }, 60_000);
});

describe('control characters from records', () => {
  let dir: string;
  const ESC_TASK = 'red \u001b[31mtask\u0007';
  const ESC_ENV = 'env\u001b[2J';
  const ESC_OUTPUT = 'out\u0000\u001b[31mred';
  const ESC_ID = 'ctl\u001b[31mid\u009b1m';

  beforeAll(() => {
    dir = path.join(tmp.dir, 'control');
    fs.mkdirSync(path.join(dir, 'steps'), { recursive: true });
    const at = (i: number) => new Date(Date.parse('2026-01-01T00:00:00.000Z') + i).toISOString();
    fs.writeFileSync(
      path.join(dir, 'starts.jsonl'),
      line({
        timestamp: at(0),
        run_id: 'ctl-run',
        started_at: at(0),
        task: ESC_TASK,
        environment: ESC_ENV,
        session_id: 'sess\u009b31m',
        user_id: 'user\u0008',
        tags: ['tag\u0000'],
      }) +
        line({ timestamp: at(1), run_id: ESC_ID, started_at: at(1), task: 't', environment: 'e' }),
    );
    fs.writeFileSync(
      path.join(dir, 'runs.jsonl'),
      line({
        timestamp: at(5),
        run_id: 'ctl-run',
        started_at: at(0),
        finished_at: at(5),
        task: ESC_TASK,
        environment: ESC_ENV,
        completed: false,
        steps: 1,
        total_reward: 0,
        result: {
          completed: false,
          error: 'boom \u001b]0;title\u0007',
          finalAnswer: 'ans\u001b[1m',
        },
      }) +
        line({
          timestamp: at(6),
          run_id: ESC_ID,
          started_at: at(1),
          finished_at: at(6),
          completed: true,
          steps: 0,
          total_reward: 0,
        }),
    );
    fs.writeFileSync(
      path.join(dir, 'scores.jsonl'),
      line({
        timestamp: at(4),
        run_id: 'ctl-run',
        name: 'judge\u001b[1m',
        value: 1,
        kind: 'score',
        comment: 'ok\u001b[2K',
        at: at(4),
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'steps', 'ctl-run.jsonl'),
      line({
        timestamp: at(3),
        run_id: 'ctl-run',
        step: 1,
        action: 'act\u001b[1m',
        reward: 0,
        success: false,
        event: {
          step: 1,
          action: { action: 'act\u001b[1m', code: 'print("\u001b[31m")' },
          observation: { success: false, output: ESC_OUTPUT, error: 'err\u001b[K' },
          reward: 0,
          usage: { model: 'model\u001b[5m', inputTokens: 1, outputTokens: 1 },
        },
      }),
    );
  });

  it('tail, runs and show --code print them as visible escapes', async () => {
    const tail = await rlmObs(['tail', '--dir', dir, '-n', '50'], { cwd: tmp.dir });
    const runs = await rlmObs(['runs', '--dir', dir], { cwd: tmp.dir });
    const show = await rlmObs(['show', 'ctl-run', '--code', '--dir', dir], { cwd: tmp.dir });
    for (const [name, out] of Object.entries({ tail, runs, show })) {
      expect(out.code, name).toBe(0);
      expect(out.stdout, name).not.toMatch(RAW_CONTROL);
    }
    expect(tail.stdout).toContain('red \\x1b[31mtask\\x07');
    expect(tail.stdout).toContain('(env\\x1b[2J)');
    expect(tail.stdout).toContain('ctl\\x1b[31mid\\x9b1m start');
    expect(tail.stdout).toContain('act\\x1b[1m');
    expect(runs.stdout).toContain('env\\x1b[2J');
    expect(runs.stdout).toContain('ctl\\x1b[31mid\\x9b1m');
    expect(runs.stdout).toContain('sess\\x9b31m / user\\x08 / tag\\x00');
    expect(show.stdout).toContain('output:\n|  |       out\\x00\\x1b[31mred');
    expect(show.stdout).toContain('error: err\\x1b[K');
    expect(show.stdout).toContain('model\\x1b[5m');
    expect(show.stdout).toContain('judge\\x1b[1m');
    expect(show.stdout).toContain('action act\\x1b[1m');
  });

  it('error messages show them as escapes too (a run id typed or pasted with ESC in it)', async () => {
    const missing = await rlmObs(['show', 'nope\u001b[2J\u0007', '--dir', dir], { cwd: tmp.dir });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('nope\\x1b[2J\\x07');
    expect(missing.stderr).not.toMatch(RAW_CONTROL);
  });

  it('--json keeps the exact strings', async () => {
    const runs = JSON.parse(
      (await rlmObs(['runs', '--dir', dir, '--json'], { cwd: tmp.dir })).stdout,
    );
    const run = runs.runs.find((r: { runId: string }) => r.runId === 'ctl-run');
    expect(run.environment).toBe(ESC_ENV);
    expect(runs.runs.map((r: { runId: string }) => r.runId)).toContain(ESC_ID);
    const show = JSON.parse(
      (await rlmObs(['show', 'ctl-run', '--json', '--dir', dir], { cwd: tmp.dir })).stdout,
    );
    expect(show.steps[0].event.observation.output).toBe(ESC_OUTPUT);
    const tail = await rlmObs(['tail', '--dir', dir, '--json'], { cwd: tmp.dir });
    const records = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.find((r) => r.kind === 'start' && r.run_id === 'ctl-run').task).toBe(ESC_TASK);
  });
});

describe('rlm-obs runs', () => {
  it('filters that match nothing say so, with how many runs there are', async () => {
    for (const args of [
      ['--parent', 'nope'],
      ['--since', '0m'],
      ['--completed', '--failed'],
    ]) {
      const out = await rlmObs(['runs', '--dir', SPACED, ...args], { cwd: tmp.dir });
      expect(out.code, args.join(' ')).toBe(0);
      expect(out.stdout, args.join(' ')).toContain('no run matches the filters (3 runs in ');
      expect(out.stdout, args.join(' ')).not.toContain('record some');
    }
    // An empty directory (one that does not exist is an error: no such directory).
    fs.mkdirSync(path.join(tmp.dir, 'nothing-here'), { recursive: true });
    const empty = await rlmObs(['runs', '--dir', 'nothing-here'], { cwd: tmp.dir });
    expect(empty.stdout).toContain('no runs in ');
    expect(empty.stdout).toContain('record some with: rlm-obs demo');
  });
});

describe('rlm-obs view and query options', () => {
  it('view --host ::1 prints a URL with brackets; a malformed %-escape in /api/runs/ is a 400', async () => {
    const child = spawnRlmObs(['view', '--json', '--host', '::1', '--dir', SPACED], tmp.dir);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await until(() => out.includes('\n') || child.exitCode !== null, 20_000);
      const { url } = JSON.parse(out.split('\n')[0]!) as { url: string };
      expect(url).toMatch(/^http:\/\/\[::1\]:\d+\/$/);
      const bad = await fetch(`${url}api/runs/%`);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toMatch(/percent-encoding/);
      expect((await fetch(`${url}api/runs/no-such-run`)).status).toBe(404);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  }, 60_000);

  it('query --max-width takes a whole number, else exit 2', async () => {
    const out = await rlmObs(['query', '--dir', SPACED, '--max-width', 'abc', 'SELECT 1'], {
      cwd: tmp.dir,
    });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('--max-width');
  });
});
