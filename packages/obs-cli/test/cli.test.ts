/**
 * Every command through the built binary in a child process: on a fresh directory, on a
 * directory with runs (a failing and a nested one), on a Python-written directory, with a
 * broken config and with an unreachable backend. `pnpm test` builds first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closedPort } from '@rlm/obs-core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, rlmObs, spawnRlmObs, tempDir } from './cli-helpers.js';

const ANSI = /\u001b\[/;
let fresh: ReturnType<typeof tempDir>;
let recorded: ReturnType<typeof tempDir>;
let demo: { runIds: string[]; failedRunId: string; nestedRunIds: string[] };

beforeAll(async () => {
  fresh = tempDir();
  recorded = tempDir();
  const out = await rlmObs(['demo', '--dir', 'obs', '--json'], { cwd: recorded.dir });
  expect(out.code).toBe(0);
  demo = JSON.parse(out.stdout);
}, 60_000);
afterAll(() => {
  fresh.remove();
  recorded.remove();
});

describe('rlm-obs on a fresh directory', () => {
  it('--help lists the commands, the exit codes and an example; each command has --help with an example', async () => {
    const top = await rlmObs(['--help'], { cwd: fresh.dir });
    expect(top.code).toBe(0);
    const commands = [
      'status',
      'doctor',
      'sinks',
      'runs',
      'show',
      'tail',
      'replay',
      'demo',
      'query',
      'view',
    ];
    for (const word of [...commands, 'Exit codes:']) expect(top.stdout).toContain(word);
    for (const command of commands) {
      const help = await rlmObs([command, '--help'], { cwd: fresh.dir });
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toMatch(/Examples?:/);
      expect(help.stdout, command).toContain('--json');
    }
    expect((await rlmObs(['--version'], { cwd: fresh.dir })).stdout.trim()).toMatch(
      /^\d+\.\d+\.\d+$/,
    );
  });

  it('bad usage exits 2', async () => {
    const unknown = await rlmObs(['frobnicate'], { cwd: fresh.dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect((await rlmObs(['replay', 'x'], { cwd: fresh.dir })).code).toBe(2);
    expect((await rlmObs(['runs', '--since', 'yesterday-ish'], { cwd: fresh.dir })).code).toBe(2);
  });

  it('status shows the seed table from the environment', async () => {
    const out = await rlmObs(['status'], {
      cwd: fresh.dir,
      env: { DSPY_RLM_OTEL_ENABLED: 'true' },
    });
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('config: none (seed environment variables)');
    for (const name of [
      'local-jsonl',
      'mlflow',
      'opentelemetry',
      'langsmith',
      'langfuse',
      'logfire',
    ])
      expect(out.stdout).toContain(name);
    expect(out.stdout).toContain("sink 'otel' is not installed");
    expect(out.stdout).not.toMatch(ANSI);
    const json = JSON.parse((await rlmObs(['status', '--json'], { cwd: fresh.dir })).stdout);
    expect(json.sinks[0]).toMatchObject({
      name: 'local-jsonl',
      enabled: true,
      available: true,
      counters: { delivered: 0 },
    });
  });

  it('doctor passes with writable local files, and fails with a fix for an enabled sink that is missing', async () => {
    const ok = await rlmObs(['doctor'], { cwd: fresh.dir });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/✓ local-jsonl: .* is writable/);
    const missing = await rlmObs(['doctor'], {
      cwd: fresh.dir,
      env: { DSPY_RLM_LANGFUSE_ENABLED: 'true' },
    });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('✗ langfuse');
    expect(missing.stdout).toMatch(/fix: +run: npm install @rlm\/sink-langfuse/);
  });

  it('runs, show, tail and sinks say there is nothing yet', async () => {
    const runs = await rlmObs(['runs'], { cwd: fresh.dir });
    expect(runs.code).toBe(0);
    expect(runs.stdout).toContain('no runs in');
    const show = await rlmObs(['show', 'nope'], { cwd: fresh.dir });
    expect(show.code).toBe(1);
    expect(show.stderr).toContain("no run 'nope'");
    expect((await rlmObs(['tail'], { cwd: fresh.dir })).stdout).toContain('no records yet');
    // None in the project, but the local files' sink comes with rlm-obs (and loads from there).
    const sinks = await rlmObs(['sinks'], { cwd: fresh.dir });
    expect(sinks.stdout).toContain('no sink packages installed here; these come with rlm-obs:');
    expect(sinks.stdout).toMatch(/@rlm\/sink-jsonl .* yes .* bundled with rlm-obs/);
    expect(sinks.stdout).not.toContain('try: pnpm add');
    const json = JSON.parse((await rlmObs(['sinks', '--json'], { cwd: fresh.dir })).stdout);
    expect(json.installed).toEqual([
      expect.objectContaining({ package: '@rlm/sink-jsonl', bundled: true, configured: true }),
    ]);
    expect(json.configuredButMissing).toEqual([]);
  });
});

describe('rlm-obs on a directory with runs', () => {
  it('stops quietly when the reader of its output goes away (rlm-obs … | head)', async () => {
    // ~1.3 MB of CSV: far more than a pipe holds, so writes go on after the reader left.
    const child = spawnRlmObs(
      ['query', 'SELECT range AS n FROM range(200000)', '-f', 'csv', '--dir', 'obs'],
      recorded.dir,
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // Read one chunk, then close the pipe, as `head -1` does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });

  it('runs: a table with failing and nested runs, filters and --json', async () => {
    const out = await rlmObs(['runs', '--dir', 'obs'], { cwd: recorded.dir });
    expect(out.code).toBe(0);
    for (const id of [...demo.runIds, ...demo.nestedRunIds]) expect(out.stdout).toContain(id);
    expect(out.stdout).toContain('↳');
    for (const column of ['started', 'duration', 'steps', 'reward', 'completed', 'tokens', 'cost'])
      expect(out.stdout).toContain(column);
    const failed = JSON.parse(
      (await rlmObs(['runs', '--dir', 'obs', '--failed', '--json'], { cwd: recorded.dir })).stdout,
    );
    expect(failed.runs.map((r: { runId: string }) => r.runId)).toEqual([demo.failedRunId]);
    const dspy = JSON.parse(
      (
        await rlmObs(['runs', '--dir', 'obs', '--environment', 'dspy', '--json'], {
          cwd: recorded.dir,
        })
      ).stdout,
    );
    expect(dspy.runs.length).toBeGreaterThan(0);
    expect(dspy.runs.every((r: { environment: string }) => r.environment === 'dspy')).toBe(true);
    const recent = JSON.parse(
      (await rlmObs(['runs', '--dir', 'obs', '--since', '1h', '--json'], { cwd: recorded.dir }))
        .stdout,
    );
    expect(recent.total).toBe(demo.runIds.length + demo.nestedRunIds.length);
    expect(recent.runs[0].inputTokens).toBeGreaterThan(0);
    expect(recent.runs[0].costUsd).toBeGreaterThan(0);
    const none = JSON.parse(
      (
        await rlmObs(['runs', '--dir', 'obs', '--since', '2030-01-01', '--json'], {
          cwd: recorded.dir,
        })
      ).stdout,
    );
    expect(none.runs).toEqual([]);
  });

  it('runs: --completed and --failed split a directory with completed, failed and open runs', async () => {
    const ids = async (...args: string[]) => {
      const out = await rlmObs(['runs', '--dir', 'obs', '--json', ...args], { cwd: recorded.dir });
      expect(out.code, args.join(' ')).toBe(0);
      return (JSON.parse(out.stdout).runs as Array<{ runId: string }>).map((r) => r.runId).sort();
    };
    const all = [...demo.runIds, ...demo.nestedRunIds].sort();
    expect(await ids('--completed')).toEqual(all.filter((id) => id !== demo.failedRunId));
    expect(await ids('--failed')).toEqual([demo.failedRunId]);
    // An open run (started, never ended) is neither.
    const t = tempDir();
    try {
      const dir = path.join(t.dir, 'obs');
      fs.mkdirSync(dir);
      const line = (o: unknown) => `${JSON.stringify(o)}\n`;
      const at = '2026-03-04T05:06:07.000Z';
      fs.writeFileSync(
        path.join(dir, 'starts.jsonl'),
        ['done', 'broke', 'going']
          .map((id) =>
            line({ timestamp: at, run_id: id, started_at: at, task: id, environment: 'e' }),
          )
          .join(''),
      );
      fs.writeFileSync(
        path.join(dir, 'runs.jsonl'),
        line({
          timestamp: at,
          run_id: 'done',
          started_at: at,
          finished_at: at,
          completed: true,
          steps: 0,
          total_reward: 1,
        }) +
          line({
            timestamp: at,
            run_id: 'broke',
            started_at: at,
            finished_at: at,
            completed: false,
            steps: 0,
            total_reward: 0,
          }),
      );
      const list = async (...args: string[]) =>
        (
          JSON.parse((await rlmObs(['runs', '--json', ...args], { cwd: t.dir })).stdout)
            .runs as Array<{ runId: string }>
        )
          .map((r) => r.runId)
          .sort();
      expect(await list('--dir', 'obs')).toEqual(['broke', 'done', 'going']);
      expect(await list('--dir', 'obs', '--completed')).toEqual(['done']);
      expect(await list('--dir', 'obs', '--failed')).toEqual(['broke']);
      const table = await rlmObs(['runs', '--dir', 'obs', '--completed'], { cwd: t.dir });
      expect(table.stdout).toContain('done');
      expect(table.stdout).not.toMatch(/broke|going/);
      expect(table.stdout).toContain('1 of 1 runs');
    } finally {
      t.remove();
    }
  });

  it('runs: --session, --user and --tag filter; the table and JSON show them', async () => {
    const ids = async (...args: string[]) => {
      const out = await rlmObs(['runs', '--dir', 'obs', '--json', ...args], { cwd: recorded.dir });
      expect(out.code, args.join(' ')).toBe(0);
      return (JSON.parse(out.stdout).runs as Array<{ runId: string }>).map((r) => r.runId).sort();
    };
    const all = [...demo.runIds, ...demo.nestedRunIds].sort();
    // The demo: runs 1 and 3 in session 1, run 2 (dspy) in session 2; nested runs inherit.
    const second = [demo.runIds[1]!, ...demo.nestedRunIds.slice(2)].sort();
    expect(await ids('--session', 'demo-session-2')).toEqual(second);
    expect(await ids('--session', 'demo-session-1')).toEqual(
      all.filter((id) => !second.includes(id)),
    );
    expect(await ids('--user', 'demo-user')).toEqual(all);
    expect(await ids('--user', 'somebody-else')).toEqual([]);
    expect(await ids('--tag', 'dspy')).toEqual(second);
    // Every tag must match: repeated or as a comma list.
    expect(await ids('--tag', 'demo,dspy')).toEqual(second);
    expect(await ids('--tag', 'demo', '--tag', 'dspy', '--session', 'demo-session-2')).toEqual(
      second,
    );
    expect(await ids('--tag', 'dspy', '--tag', 'pure_rlm')).toEqual([]);
    const json = JSON.parse(
      (
        await rlmObs(['runs', '--dir', 'obs', '--json', '--session', 'demo-session-2'], {
          cwd: recorded.dir,
        })
      ).stdout,
    );
    expect(json.runs[0]).toMatchObject({
      sessionId: 'demo-session-2',
      userId: 'demo-user',
      tags: ['demo', 'dspy'],
    });
    const table = await rlmObs(['runs', '--dir', 'obs', '--tag', 'dspy'], { cwd: recorded.dir });
    expect(table.stdout).toContain('session / user / tags');
    expect(table.stdout).toContain('demo-session-2 / demo-user / demo,dspy');
    expect(table.stdout).toContain(`3 of 3 runs`);
  });

  it('show: session, user, tags, scores and feedback, and cost per model with the total', async () => {
    const out = await rlmObs(['show', demo.runIds[0]!, '--dir', 'obs'], { cwd: recorded.dir });

    expect(out.code).toBe(0);
    expect(out.stdout).toContain('rlm.session_id = "demo-session-1"');
    expect(out.stdout).toContain('rlm.user_id = "demo-user"');
    expect(out.stdout).toContain('rlm.tags = ["demo","pure_rlm"]');
    expect(out.stdout).toMatch(
      /^\| {7}answer_quality = 0\.9 {2}score {2}source llm-judge {2}step 6 {2}"closed form derived and checked"$/m,
    );
    expect(out.stdout).toMatch(
      /^\| {7}thumbs_up = true {2}feedback {2}source demo-user {2}"helpful"$/m,
    );
    expect(out.stdout).toMatch(/^\| {7}completed = true {2}score {2}source rlm-obs$/m);
    const json = JSON.parse(
      (await rlmObs(['show', demo.runIds[0]!, '--dir', 'obs', '--json'], { cwd: recorded.dir }))
        .stdout,
    );
    const reward = Math.round(json.summary.totalReward * 1e6) / 1e6;
    expect(out.stdout).toContain(`|       reward = ${reward}  score  source rlm-obs\n`);
    expect(json.scores.map((s: { name: string }) => s.name)).toEqual([
      'answer_quality',
      'reward',
      'completed',
      'thumbs_up',
    ]);
    const usd = (n: number) => (n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`);
    const models = Object.entries(json.stats.byModel) as Array<
      [string, { calls: number; inputTokens: number; outputTokens: number; costUsd: number }]
    >;
    expect(models.length).toBeGreaterThan(0);
    expect(out.stdout).toContain('|     by model:');
    for (const [model, m] of models)
      expect(out.stdout).toContain(
        `|       ${model}: ${m.calls} calls, ${m.inputTokens} in / ${m.outputTokens} out, ${usd(m.costUsd)}`,
      );
    expect(json.stats.costUsd).toBeGreaterThan(0);
    expect(out.stdout).toContain(`|       total: ${usd(json.stats.costUsd)}`);
    // A nested run shows its own (inherited) session and its own scores, indented.
    expect(out.stdout).toMatch(/^\| {2}\| {5}rlm\.session_id = "demo-session-1"$/m);
    expect(out.stdout).toMatch(/^\| {2}\| {7}completed = true {2}score {2}source rlm-obs$/m);
  });

  it('show: a trace tree with nested runs indented and failed steps marked; --code shows code', async () => {
    const root = await rlmObs(['show', demo.runIds[0]!.slice(0, 20), '--dir', 'obs'], {
      cwd: recorded.dir,
    });
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/^Trace: [0-9a-f]{32}$/m);
    expect(root.stdout).toContain('+-- rlm.run [');
    expect(root.stdout).toMatch(/^\| {2}\+-- rlm\.step \[\d+ms\] step 1 action run_python reward/m);
    expect(root.stdout).toMatch(/^\| {2}\| {2}\+-- rlm\.run/m);
    expect(root.stdout).toContain(`rlm.parent_run_id = "${demo.runIds[0]}"`);
    expect(root.stdout).toContain('Event: final_answer');
    const failed = await rlmObs(['show', demo.failedRunId, '--dir', 'obs', '--code'], {
      cwd: recorded.dir,
    });
    expect(failed.stdout).toContain('✗ did not complete');
    expect(failed.stdout).toContain('✗ failed');
    expect(failed.stdout).toContain("error: NameError: name 'valeus' is not defined");
    expect(failed.stdout).toMatch(/code:\n(\| {2})+ {5}values = \[i \* i for i in range\(/);
    const json = JSON.parse(
      (await rlmObs(['show', demo.runIds[0]!, '--dir', 'obs', '--json'], { cwd: recorded.dir }))
        .stdout,
    );
    expect(json.children).toHaveLength(1);
    expect(json.children[0].children).toHaveLength(1);
  });

  it('show: an ambiguous prefix lists the runs it matches, with a hint; the help example is a usable id', async () => {
    const all = [...demo.runIds, ...demo.nestedRunIds];
    // UUIDv7 ids begin with their time: the demo's runs share their first 8 characters.
    const prefix = demo.runIds[0]!.slice(0, 8);
    const matching = all.filter((id) => id.startsWith(prefix));
    expect(matching.length).toBeGreaterThan(1);
    const out = await rlmObs(['show', prefix, '--dir', 'obs'], { cwd: recorded.dir });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(
      `'${prefix}' matches ${matching.length} runs; give more of the id`,
    );
    const listed = out.stderr.split('\n').filter((l) => /^ {2}[0-9a-f-]{36} {2}\d{4}-/.test(l));
    expect(listed.length).toBe(Math.min(5, matching.length));
    for (const line of listed) expect(matching).toContain(line.trim().split(/\s+/)[0]);
    expect(out.stderr).toContain('rlm-obs runs lists them all');
    const help = await rlmObs(['show', '--help'], { cwd: recorded.dir });
    const examples = [...help.stdout.matchAll(/^ {2}rlm-obs show (\S+)/gm)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThan(0);
    // Each example names a whole id or a start long enough to tell runs of one second apart.
    for (const example of examples) expect(example).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]/);
    expect(help.stdout).not.toContain('show 01a2 ');
  });

  it('tail prints the latest records; tail -f prints new ones as they are written', async () => {
    const out = await rlmObs(['tail', '--dir', 'obs', '-n', '5'], { cwd: recorded.dir });
    expect(out.stdout.trim().split('\n')).toHaveLength(5);
    const child = spawnRlmObs(
      ['tail', '-f', '--dir', 'obs', '-n', '0', '--interval', '50'],
      recorded.dir,
    );
    let seen = '';
    child.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const more = await rlmObs(['demo', '--dir', 'obs', '--runs', '1', '--steps', '2', '--json'], {
      cwd: recorded.dir,
    });
    const newId = JSON.parse(more.stdout).runIds[0] as string;
    const deadline = Date.now() + 10_000;
    while (!seen.includes(`${newId} end`) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(seen).toContain(`${newId} start`);
    expect(seen).toContain(`${newId} step 1`);
    expect(seen).toContain(`${newId} end completed`);
    expect(code).toBe(0);
  });

  it('replay re-delivers every event to a sink given as a path, with a summary', async () => {
    const recorder = path.join(recorded.dir, 'recorder.mjs');
    fs.writeFileSync(
      recorder,
      `import { appendFileSync } from 'node:fs';
const file = process.env.RECORD_TO;
const log = (hook, runId, payload) => appendFileSync(file, JSON.stringify([hook, runId, payload]) + '\\n');
export function createSink() {
  return { name: 'recorder', status: () => ({ name: 'recorder', enabled: true, available: true, detail: file }),
    onRunStart: (id, p) => log('onRunStart', id, p), onStep: (id, p) => log('onStep', id, p), onRunEnd: (id, p) => log('onRunEnd', id, p) };
}`,
    );
    const target = path.join(recorded.dir, 'replayed.jsonl');
    const out = await rlmObs(
      ['replay', demo.runIds[0]!, demo.failedRunId, '--dir', 'obs', '--to', './recorder.mjs'],
      { cwd: recorded.dir, env: { RECORD_TO: target } },
    );
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(
      /replayed 2 run\(s\) from .* to recorder: (\d+) events, \1 delivered, 0 failed, 0 dropped/,
    );
    const lines = fs
      .readFileSync(target, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0][0]).toBe('onRunStart');
    expect(lines.filter((l) => l[0] === 'onRunEnd').map((l) => l[1])).toEqual([
      demo.runIds[0],
      demo.failedRunId,
    ]);
    const all = await rlmObs(
      ['replay', '--all', '--dir', 'obs', '--to', './recorder.mjs', '--json'],
      { cwd: recorded.dir, env: { RECORD_TO: target } },
    );
    expect(JSON.parse(all.stdout)).toMatchObject({ ok: true, failed: 0 });
    // A sink that keeps scores gets the stored ones, and reward/completed only once (the
    // coordinator makes them again at the end; the stored copies are not replayed).
    const scorer = path.join(recorded.dir, 'scorer.mjs');
    fs.writeFileSync(
      scorer,
      fs
        .readFileSync(recorder, 'utf8')
        .replace("name: 'recorder'", "name: 'scorer'")
        .replace(
          "onRunEnd: (id, p) => log('onRunEnd', id, p) };",
          "onRunEnd: (id, p) => log('onRunEnd', id, p), onScore: (id, p) => log('onScore', id, p) };",
        ),
    );
    const scored = path.join(recorded.dir, 'scored.jsonl');
    const withScores = await rlmObs(
      ['replay', demo.runIds[0]!, '--dir', 'obs', '--to', './scorer.mjs', '--json'],
      { cwd: recorded.dir, env: { RECORD_TO: scored } },
    );
    expect(withScores.code).toBe(0);
    const report = JSON.parse(withScores.stdout);
    expect(report).toMatchObject({ ok: true, failed: 0, dropped: 0 });
    const got = fs
      .readFileSync(scored, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // start, steps, answer_quality, (reward, completed), end, thumbs_up — in that order.
    expect(got.filter((l) => l[0] === 'onScore').map((l) => [l[2].name, l[2].source])).toEqual([
      ['answer_quality', 'llm-judge'],
      ['reward', 'rlm-obs'],
      ['completed', 'rlm-obs'],
      ['thumbs_up', 'demo-user'],
    ]);
    expect(got.findIndex((l) => l[2].name === 'thumbs_up')).toBeGreaterThan(
      got.findIndex((l) => l[0] === 'onRunEnd' && l[1] === demo.runIds[0]),
    );
    // The two stored scores count as events; the regenerated reward and completed do not.
    expect(report.events).toBe(got.length - 2);
    expect(report.delivered).toBe(got.length);
    const missing = await rlmObs(['replay', '--all', '--dir', 'obs', '--to', 'otel'], {
      cwd: recorded.dir,
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("sink 'otel' is not installed");
  });
});

/** A directory as Python rlm-code writes it: steps and runs.jsonl, no starts, no `event`. */
function writePythonDir(base: string): void {
  fs.mkdirSync(path.join(base, 'steps'), { recursive: true });
  const line = (o: unknown) => `${JSON.stringify(o)}\n`;
  fs.writeFileSync(
    path.join(base, 'steps', 'py-1.jsonl'),
    line({
      timestamp: '2026-01-02T03:04:05.5+00:00',
      run_id: 'py-1',
      step: 1,
      action: 'run_python',
      reward: 0.5,
      cumulative_reward: 0.5,
      success: true,
    }) +
      line({
        timestamp: '2026-01-02T03:04:06+00:00',
        run_id: 'py-1',
        step: 2,
        action: 'submit',
        reward: 1,
        cumulative_reward: 1.5,
        success: false,
      }),
  );
  fs.writeFileSync(
    path.join(base, 'runs.jsonl'),
    line({
      timestamp: '2026-01-02T03:04:07+00:00',
      run_id: 'py-1',
      started_at: '2026-01-02T03:04:00+00:00',
      finished_at: '2026-01-02T03:04:07+00:00',
      task: 'python task',
      environment: 'dspy',
      params: {},
      completed: true,
      steps: 2,
      step_count_observed: 2,
      total_reward: 1.5,
      run_path: '/tmp/x',
    }),
  );
}

describe('rlm-obs on a Python-written directory', () => {
  let py: ReturnType<typeof tempDir>;
  beforeAll(() => {
    py = tempDir();
    writePythonDir(path.join(py.dir, '.rlm_code', 'rlm', 'observability'));
  });
  afterAll(() => py.remove());

  it('lists and shows runs written by rlm-code, steps timed from when they were recorded', async () => {
    const runs = await rlmObs(['runs'], { cwd: py.dir });
    expect(runs.code).toBe(0);
    expect(runs.stdout).toMatch(/py-1 .*7\.0s.*2.*1\.50.*yes/);
    const show = await rlmObs(['show', 'py-1'], { cwd: py.dir });
    expect(show.stdout).toContain('rlm.task = "python task"');
    // No startedAt in Python lines: from the run's start (03:04:00) to the first line
    // (03:04:05.5), then from there to the second (03:04:06).
    expect(show.stdout).toMatch(/rlm\.step \[5\.5s\] step 1 action run_python reward 0\.50 ✓/);
    expect(show.stdout).toMatch(/rlm\.step \[500ms\] step 2 action submit reward 1 ✗ failed/);
  });

  it('tail prints its steps and end in order', async () => {
    const out = await rlmObs(['tail'], { cwd: py.dir });
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/py-1 step 1 run_python reward=0\.5 ✓$/),
      expect.stringMatching(/py-1 step 2 submit reward=1 ✗$/),
      expect.stringMatching(/py-1 end completed steps=2 reward=1\.5$/),
    ]);
    const json = (await rlmObs(['tail', '--json'], { cwd: py.dir })).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; step?: number; steps?: number });
    expect(json.map((r) => [r.kind, r.step ?? r.steps])).toEqual([
      ['step', 1],
      ['step', 2],
      ['end', 2],
    ]);
  });

  it('replay re-delivers it with the recorded step times', async () => {
    fs.writeFileSync(
      path.join(py.dir, 'recorder.mjs'),
      `import { appendFileSync } from 'node:fs';
const log = (hook, runId, payload) => appendFileSync(process.env.RECORD_TO, JSON.stringify([hook, runId, payload]) + '\\n');
export function createSink() {
  return { name: 'recorder', status: () => ({ name: 'recorder', enabled: true, available: true, detail: 'file' }),
    onRunStart: (id, p) => log('onRunStart', id, p), onStep: (id, p) => log('onStep', id, p), onRunEnd: (id, p) => log('onRunEnd', id, p) };
}`,
    );
    const target = path.join(py.dir, 'replayed.jsonl');
    const out = await rlmObs(['replay', 'py-1', '--to', './recorder.mjs', '--json'], {
      cwd: py.dir,
      env: { RECORD_TO: target },
    });
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ ok: true, events: 4, delivered: 4 });
    const got = fs
      .readFileSync(target, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(got.map((l) => l[0])).toEqual(['onRunStart', 'onStep', 'onStep', 'onRunEnd']);
    expect(got[0][2]).toMatchObject({ task: 'python task', environment: 'dspy' });
    expect(got[1][2].event).toMatchObject({
      step: 1,
      startedAt: '2026-01-02T03:04:00.000Z',
      durationMs: 5500,
    });
    expect(got[2][2].event).toMatchObject({
      step: 2,
      startedAt: '2026-01-02T03:04:05.500Z',
      durationMs: 500,
    });
    expect(got[3][2].result).toMatchObject({ completed: true, totalReward: 1.5 });
  });

  it("view's data endpoints list it and open it", async () => {
    const server = spawnRlmObs(['view', '--port', '0', '--json'], py.dir);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`viewer did not start: ${out}`)), 20_000);
        server.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (line) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { url: string }).url);
          }
        });
        server.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`viewer exited ${code}: ${out}`));
        });
      });
      const list = (await (await fetch(new URL('api/runs', url))).json()) as {
        runs: Array<Record<string, unknown>>;
      };
      expect(list.runs).toHaveLength(1);
      expect(list.runs[0]).toMatchObject({
        runId: 'py-1',
        task: 'python task',
        environment: 'dspy',
        completed: true,
        totalReward: 1.5,
      });
      const run = (await (await fetch(new URL('api/runs/py-1', url))).json()) as {
        run: { runId: string };
        steps: Array<Record<string, unknown>>;
      };
      expect(run.run.runId).toBe('py-1');
      expect(run.steps).toHaveLength(2);
    } finally {
      server.kill('SIGINT');
    }
  });
});

describe('configs and backends', () => {
  it('a broken config exits 2 and names the file and key', async () => {
    const t = tempDir();
    try {
      fs.writeFileSync(
        path.join(t.dir, 'rlm-obs.config.json'),
        JSON.stringify({ sinks: ['jsonl'], sampling: { rate: 7 } }),
      );
      for (const command of ['status', 'doctor', 'runs', 'demo']) {
        const out = await rlmObs([command], { cwd: t.dir });
        expect(out.code, command).toBe(2);
        expect(out.stderr, command).toMatch(
          /config error: must be a number from 0 to 1 \(got 7\) \(.*rlm-obs\.config\.json, sampling\.rate\)/,
        );
      }
    } finally {
      t.remove();
    }
  });

  it('an unreachable backend: doctor exits 1 with the problem and a fix; demo still records locally', async () => {
    const t = tempDir();
    try {
      fs.mkdirSync(path.join(t.dir, 'node_modules'));
      fs.symlinkSync(
        path.join(REPO, 'examples', 'custom-sink'),
        path.join(t.dir, 'node_modules', 'rlm-sink-webhook'),
      );
      const port = await closedPort();
      fs.writeFileSync(
        path.join(t.dir, 'rlm-obs.config.json'),
        JSON.stringify({
          sinks: ['jsonl', ['webhook', { url: `http://127.0.0.1:${port}/hook`, maxAttempts: 1 }]],
        }),
      );
      const doctor = await rlmObs(['doctor'], { cwd: t.dir });
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toContain('✓ local-jsonl');
      expect(doctor.stdout).toMatch(
        /✗ webhook\n +problem: cannot reach http:\/\/127\.0\.0\.1:\d+\/hook: .*ECONNREFUSED.*\n +fix: +start the receiver or fix the url option/,
      );
      const sinks = await rlmObs(['sinks'], { cwd: t.dir });
      expect(sinks.stdout).toMatch(/rlm-sink-webhook .*yes/);
      const demoOut = await rlmObs(['demo', '--runs', '1', '--json'], { cwd: t.dir });
      const report = JSON.parse(demoOut.stdout);
      expect(demoOut.code).toBe(1);
      expect(report.sinks.find((s: { name: string }) => s.name === 'local-jsonl')).toMatchObject({
        ok: true,
        failed: 0,
      });
      expect(report.sinks.find((s: { name: string }) => s.name === 'webhook')).toMatchObject({
        ok: false,
        error: expect.stringContaining('events could not be delivered'),
      });
      const runs = await rlmObs(['runs', '--json'], { cwd: t.dir });
      expect(JSON.parse(runs.stdout).runs.length).toBeGreaterThan(0);
    } finally {
      t.remove();
    }
  });

  it('a sink that leaves work behind after its shutdown deadline does not keep the command running', async () => {
    const t = tempDir();
    try {
      // Its shutdown never finishes and holds the event loop for ten minutes (a backend that
      // never answers, retried by its SDK).
      fs.writeFileSync(
        path.join(t.dir, 'lingering-sink.mjs'),
        `export function createSink() {
          return {
            name: 'lingering',
            status: () => ({ name: 'lingering', enabled: true, available: true, detail: 'holds on' }),
            onRunStart() {}, onStep() {}, onRunEnd() {},
            shutdown: () => new Promise((resolve) => setTimeout(resolve, 600_000)),
          };
        }`,
      );
      fs.writeFileSync(
        path.join(t.dir, 'rlm-obs.config.json'),
        JSON.stringify({ sinks: ['jsonl', './lingering-sink.mjs'] }),
      );
      // rlmObs() kills the command after 60 s; without the exit after the command it would
      // still be waiting for the timer.
      const out = await rlmObs(['status', '--json'], { cwd: t.dir });
      expect(out.code).toBe(0);
      expect(JSON.parse(out.stdout).sinks.map((s: { name: string }) => s.name)).toEqual([
        'local-jsonl',
        'lingering',
      ]);
    } finally {
      t.remove();
    }
  });

  it('status shows sinks that run in the worker thread (worker: true)', async () => {
    const t = tempDir();
    try {
      fs.writeFileSync(
        path.join(t.dir, 'plain-sink.mjs'),
        `export function createSink(options) {
          return {
            name: options.name,
            status: () => ({ name: options.name, enabled: true, available: true, detail: 'key=' + options.apiKey }),
            onRunStart() {}, onStep() {}, onRunEnd() {},
          };
        }`,
      );
      fs.writeFileSync(
        path.join(t.dir, 'rlm-obs.config.json'),
        JSON.stringify({
          worker: true,
          sinks: [
            'jsonl',
            ['./plain-sink.mjs', { name: 'remote-one', apiKey: 'sk-cli-worker-77' }],
          ],
        }),
      );
      const out = await rlmObs(['status', '--json'], { cwd: t.dir });
      expect(out.code).toBe(0);
      const sinks = JSON.parse(out.stdout).sinks as Array<Record<string, unknown>>;
      expect(sinks.map((s) => [s.name, s.thread ?? 'main'])).toEqual([
        ['local-jsonl', 'main'],
        ['remote-one', 'worker'],
      ]);
      expect(out.stdout + out.stderr).not.toContain('sk-cli-worker-77');
    } finally {
      t.remove();
    }
  });
});
