/**
 * The packaging proof: pack @rlm/obs-core, @rlm/sink-jsonl and the custom webhook sink with
 * `pnpm pack`, install the tarballs with npm into a project outside the workspace, list the
 * sinks by name in a config file there, record a run, and check the records — and that such
 * an install carries no OpenTelemetry, gRPC, LangSmith or Langfuse package. Needs the built
 * dist/ (`pnpm test` builds first) and the npm registry for core's two small dependencies.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../../examples/custom-sink/test/receiver.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
// Core's only heavy dependency is the price table (@pydantic/genai-prices, data only);
// Logfire's SDK (@pydantic/logfire-*) must not come along.
const FORBIDDEN =
  /^(@opentelemetry|@grpc|grpc|langsmith|langfuse|@langfuse|@pydantic\/logfire.*|logfire|vitest)$/;

let work: string;
let receiver: Receiver;
beforeAll(async () => {
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-packaging-')));
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  fs.rmSync(work, { recursive: true, force: true });
});

function installedPackages(nodeModules: string): string[] {
  const names: string[] = [];
  for (const entry of fs.readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      names.push(entry);
      for (const sub of fs.readdirSync(path.join(nodeModules, entry)))
        names.push(`${entry}/${sub}`);
    } else {
      names.push(entry);
    }
  }
  return names;
}

describe('packaging: sinks install à la carte', () => {
  it('packs, installs outside the workspace, loads sinks by name from a config file, records a run', async () => {
    const tarballs: string[] = [];
    const packDir = path.join(work, 'tarballs');
    fs.mkdirSync(packDir);
    for (const pkg of ['packages/obs-core', 'packages/sink-jsonl', 'examples/custom-sink']) {
      const { stdout } = await run('pnpm', ['pack', '--pack-destination', packDir], {
        cwd: path.join(root, pkg),
      });
      const tarball = stdout.trim().split('\n').at(-1)!.trim();
      expect(fs.existsSync(tarball), tarball).toBe(true);
      tarballs.push(tarball);
    }
    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], {
      cwd: app,
      timeout: 240_000,
    });

    const packages = installedPackages(path.join(app, 'node_modules'));
    expect(packages).toEqual(
      expect.arrayContaining(['@rlm/obs-core', '@rlm/sink-jsonl', 'rlm-sink-webhook']),
    );
    expect(
      packages.filter((name) => FORBIDDEN.test(name) || FORBIDDEN.test(name.split('/')[0]!)),
    ).toEqual([]);

    fs.writeFileSync(
      path.join(app, 'rlm-obs.config.json'),
      JSON.stringify({
        sinks: ['jsonl', ['webhook', { url: '${HOOK_URL}', scheduledDelayMs: 10 }]],
        attributes: { proof: 'packaging' },
      }),
    );
    fs.writeFileSync(
      path.join(app, 'record.mjs'),
      `import { loadObservability } from '@rlm/obs-core';
const obs = await loadObservability();
const run = obs.startRun({ runId: 'packaged-run', task: 'prove packaging', environment: 'consumer', params: { max_steps: 5 } });
for (let i = 1; i <= 5; i++) run.step({ action: { action: 'run_python', code: 'print(' + i + ')' }, observation: { success: true, output: String(i) }, reward: 0.2 });
run.end({ finalAnswer: 'packed' });
const report = await obs.shutdown();
process.stdout.write(JSON.stringify({ report, status: obs.status() }));
`,
    );
    const { stdout } = await run(process.execPath, ['record.mjs'], {
      cwd: app,
      env: { ...process.env, HOOK_URL: receiver.url },
    });
    const { report, status } = JSON.parse(stdout);
    expect(report.ok).toBe(true);
    expect(status.map((s: { name: string }) => s.name)).toEqual(['local-jsonl', 'webhook']);

    const base = path.join(app, '.rlm_code', 'rlm', 'observability');
    const runs = fs
      .readFileSync(path.join(base, 'runs.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      run_id: 'packaged-run',
      completed: true,
      steps: 5,
      step_count_observed: 5,
      environment: 'consumer',
    });
    const steps = fs
      .readFileSync(path.join(base, 'steps', 'packaged-run.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(steps).toHaveLength(5);
    const starts = fs
      .readFileSync(path.join(base, 'starts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(starts[0].attributes).toEqual({ proof: 'packaging' });

    const hooked = receiver.events.filter((e) => e.run_id === 'packaged-run');
    expect(hooked.map((e) => e.type)).toEqual([
      'run_start',
      'step',
      'step',
      'step',
      'step',
      'step',
      'run_end',
    ]);
  }, 300_000);
});
