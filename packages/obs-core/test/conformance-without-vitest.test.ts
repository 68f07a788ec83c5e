/**
 * `MemorySink` and `FaultySink` import without vitest (an optional peer) from
 * `@rlm/obs-core/testing/sinks`; `@rlm/obs-core/testing` (the conformance suite) says that it
 * needs vitest. Runs the built dist/ in a directory where vitest cannot be resolved.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));
let root = '';

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-no-vitest-'));
  const target = path.join(root, 'node_modules', '@rlm', 'obs-core');
  fs.mkdirSync(target, { recursive: true });
  fs.cpSync(path.join(pkg, 'dist'), path.join(target, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(pkg, 'package.json'), path.join(target, 'package.json'));
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  // The runtime dependencies only: vitest (a dev dependency here) stays out of reach.
  for (const dep of Object.keys(manifest.dependencies)) {
    const link = path.join(root, 'node_modules', dep);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(fs.realpathSync(path.join(pkg, 'node_modules', dep)), link, 'dir');
  }
  fs.writeFileSync(
    path.join(root, 'check.mjs'),
    `let vitestFound = true;
try { await import('vitest'); } catch { vitestFound = false; }
const { MemorySink, FaultySink } = await import('@rlm/obs-core/testing/sinks');
const { RLMObservability } = await import('@rlm/obs-core');
const memory = new MemorySink();
const faulty = new FaultySink({ mode: 'ok' });
const obs = RLMObservability.withSinks([memory, faulty], { flushOnExit: false, logger: false });
obs.startRun({ task: 't' }).end();
await obs.shutdown();
let error;
try { await import('@rlm/obs-core/testing'); } catch (e) { error = e.message; }
console.log(JSON.stringify({ vitestFound, hooks: memory.events.map((e) => e.hook), faulty: faulty.calls, error }));
`,
  );
});

afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

function runCheck(extraEnv: Record<string, string>): Record<string, unknown> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('VITEST') && k !== 'NODE_PATH' && k !== 'NODE_OPTIONS')
      env[k] = v;
  const out = execFileSync(process.execPath, ['check.mjs'], {
    cwd: root,
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

it('imports MemorySink and FaultySink from the built dist where vitest cannot be resolved', () => {
  const result = runCheck({});
  expect(result.vitestFound).toBe(false);
  expect(result.hooks).toEqual(['onRunStart', 'onRunEnd']);
  expect(result.faulty).toMatchObject({ onRunStart: 1, onRunEnd: 1 });
  // The suite's entry names what it misses.
  expect(result.error).toMatch(/Cannot find package 'vitest'/);
});
