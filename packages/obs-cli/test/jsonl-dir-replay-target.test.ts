/**
 * Through the built binary: the commands that read the local files look exactly where the
 * local sink writes (config file + RLM_OBS_JSONL_DIR), and `replay --to` refuses a target that
 * would take the events and deliver none (disabled, or not installed), while `--to jsonl`
 * writes into RLM_OBS_JSONL_DIR as documented.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rlmObs, tempDir } from './cli-helpers.js';

let tmp: ReturnType<typeof tempDir>;
/** A directory with recorded runs, and their ids. */
let source: string;
let runIds: string[];

beforeAll(async () => {
  tmp = tempDir();
  source = path.join(tmp.dir, 'source');
  const demo = await rlmObs(['demo', '--dir', source, '--runs', '2', '--json'], { cwd: tmp.dir });
  expect(demo.code).toBe(0);
  runIds = JSON.parse(demo.stdout).runIds;
}, 60_000);
afterAll(() => tmp?.remove());

function project(name: string, config: unknown): string {
  const dir = path.join(tmp.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'rlm-obs.config.json'), JSON.stringify(config));
  return dir;
}

async function listedRuns(cwd: string, env: Record<string, string>): Promise<string[]> {
  const runs = await rlmObs(['runs', '--json'], { cwd, env });
  expect(runs.code).toBe(0);
  return (JSON.parse(runs.stdout) as { runs: Array<{ runId: string }> }).runs.map((r) => r.runId);
}

describe('with a config file, the sink and the reading commands agree on the directory', () => {
  it('demo writes into RLM_OBS_JSONL_DIR and runs finds the runs there', async () => {
    const cwd = project('config-env-dir', { sinks: ['jsonl'] });
    const env = { RLM_OBS_JSONL_DIR: path.join(tmp.dir, 'env-dir') };
    const demo = await rlmObs(['demo', '--runs', '1', '--json'], { cwd, env });
    expect(demo.code).toBe(0);
    const recorded = JSON.parse(demo.stdout) as { runIds: string[]; dir: string };
    expect(recorded.dir).toBe(env.RLM_OBS_JSONL_DIR);
    expect(await listedRuns(cwd, env)).toContain(recorded.runIds[0]);
    expect(fs.existsSync(path.join(cwd, '.rlm_code'))).toBe(false);
    const status = await rlmObs(['status', '--json'], { cwd, env });
    expect(JSON.parse(status.stdout).sinks[0]).toMatchObject({
      name: 'local-jsonl',
      detail: env.RLM_OBS_JSONL_DIR,
    });
  });

  it("the config entry's own dir wins over RLM_OBS_JSONL_DIR, for the sink and for runs", async () => {
    const cwd = project('config-own-dir', { sinks: [['jsonl', { dir: 'mine' }]] });
    const env = { RLM_OBS_JSONL_DIR: path.join(tmp.dir, 'not-here') };
    const demo = await rlmObs(['demo', '--runs', '1', '--json'], { cwd, env });
    expect(demo.code).toBe(0);
    const recorded = JSON.parse(demo.stdout) as { runIds: string[]; dir: string };
    expect(recorded.dir).toBe(path.join(cwd, 'mine'));
    expect(await listedRuns(cwd, env)).toContain(recorded.runIds[0]);
    expect(fs.existsSync(env.RLM_OBS_JSONL_DIR)).toBe(false);
  });
});

describe('replay --to', () => {
  it('refuses a disabled or uninstalled sink with exit 2, saying how to enable or install it', async () => {
    const cwd = path.join(tmp.dir, 'refuse');
    fs.mkdirSync(cwd);
    const disabled = await rlmObs(['replay', '--all', '--dir', source, '--to', 'opentelemetry'], {
      cwd,
    });
    expect(disabled.code).toBe(2);
    expect(disabled.stdout).not.toContain('delivered');
    expect(disabled.stderr).toContain("the sink 'opentelemetry' is disabled");
    expect(disabled.stderr).toContain('DSPY_RLM_OTEL_ENABLED=true');
    const missing = await rlmObs(['replay', '--all', '--dir', source, '--to', 'opentelemetry'], {
      cwd,
      env: { DSPY_RLM_OTEL_ENABLED: 'true' },
    });
    expect(missing.code).toBe(2);
    expect(missing.stdout).not.toContain('delivered');
    expect(missing.stderr).toMatch(/install @rlm\/sink-otel/);
    for (const to of ['jsonl', 'local-jsonl']) {
      const off = await rlmObs(['replay', '--all', '--dir', source, '--to', to], {
        cwd,
        env: { DSPY_RLM_OBS_LOCAL_JSONL: 'false', RLM_OBS_JSONL_DIR: path.join(cwd, 'target') },
      });
      expect(off.code, to).toBe(2);
      expect(off.stdout).not.toContain('delivered');
      expect(off.stderr).toContain('DSPY_RLM_OBS_LOCAL_JSONL=true');
      expect(fs.existsSync(path.join(cwd, 'target'))).toBe(false);
    }
    // Disabled in the config file: the message names the file.
    const configured = project('refuse-config', { sinks: [['jsonl', { enabled: false }]] });
    const off = await rlmObs(['replay', '--all', '--dir', source, '--to', 'local-jsonl'], {
      cwd: configured,
    });
    expect(off.code).toBe(2);
    expect(off.stderr).toContain(path.join(configured, 'rlm-obs.config.json'));
  });

  it('jsonl writes into RLM_OBS_JSONL_DIR; reading from that same directory is refused', async () => {
    const cwd = path.join(tmp.dir, 'into-env-dir');
    fs.mkdirSync(cwd);
    const target = path.join(cwd, 'target');
    const env = { RLM_OBS_JSONL_DIR: target };
    const replay = await rlmObs(['replay', '--all', '--dir', source, '--to', 'jsonl', '--json'], {
      cwd,
      env,
    });
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ to: 'local-jsonl', from: source, ok: true });
    expect((await listedRuns(cwd, env)).sort()).toEqual(expect.arrayContaining([...runIds].sort()));
    expect(fs.existsSync(path.join(cwd, '.rlm_code'))).toBe(false);
    // Without --dir the runs are read from RLM_OBS_JSONL_DIR: the same directory.
    const same = await rlmObs(['replay', '--all', '--to', 'jsonl'], { cwd, env });
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('would write the runs into the directory they are read from');
  });

  it('an enabled sink whose status says unavailable is checked: replayed when its check passes, else exit 1', async () => {
    const cwd = path.join(tmp.dir, 'checked');
    fs.mkdirSync(cwd);
    fs.writeFileSync(
      path.join(cwd, 'flaky.mjs'),
      `export function createSink() {
  return { name: 'flaky', status: () => ({ name: 'flaky', enabled: true, available: false, detail: 'unavailable: not checked yet' }),
    check: async () => process.env.FLAKY_OK === '1' ? { ok: true, problems: [] } : { ok: false, problems: [{ problem: 'cannot reach the backend', fix: 'start it' }] },
    onRunStart() {}, onStep() {}, onRunEnd() {} };
}`,
    );
    const down = await rlmObs(['replay', '--all', '--dir', source, '--to', './flaky.mjs'], { cwd });
    expect(down.code).toBe(1);
    expect(down.stdout).not.toContain('delivered');
    expect(down.stderr).toContain(
      "the sink 'flaky' is unavailable: cannot reach the backend (fix: start it)",
    );
    const up = await rlmObs(['replay', '--all', '--dir', source, '--to', './flaky.mjs'], {
      cwd,
      env: { FLAKY_OK: '1' },
    });
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/to flaky: \d+ events/);
  });
});
