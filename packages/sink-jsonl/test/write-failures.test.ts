/**
 * Lines the sink could not write show in the flush and shutdown reports (each failure once),
 * not only in `status()`: a local record that is lost is never an `ok` flush.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RLMObservability } from '@rlm/obs-core';
import { describe, expect, it } from 'vitest';
import { createJsonlSink } from '../src/index.js';
import { useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

describe('lines that could not be written', () => {
  it('fail the flush report once each, saying how many and why, and warn', async () => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'a-file'), 'not a directory');
    const dir = path.join(root, 'a-file', 'records');
    const warnings: string[] = [];
    const obs = RLMObservability.withSinks([createJsonlSink({ dir })], {
      flushOnExit: false,
      logger: { warn: (message: string) => warnings.push(message) },
    });
    obs.onRunStart('r1', { task: 't', environment: 'e', params: {} });
    obs.onStep('r1', { event: { step: 1, action: { action: 'code' } }, cumulativeReward: 1 });
    obs.onRunEnd('r1', { result: { completed: true } });
    const first = await obs.flush();
    expect(first.ok).toBe(false);
    expect(first.sinks[0]).toMatchObject({ name: 'local-jsonl', ok: false });
    expect(first.sinks[0]!.error).toMatch(/^4 lines could not be written to .*records: ENOTDIR/);
    expect(warnings.join('\n')).toMatch(/4 lines could not be written/);
    // Reported once: a flush with nothing new is ok again.
    expect((await obs.flush()).ok).toBe(true);
    obs.onStep('r1', { event: { step: 2, action: { action: 'code' } }, cumulativeReward: 2 });
    const last = await obs.shutdown();
    expect(last.ok).toBe(false);
    expect(last.sinks[0]!.error).toMatch(/^1 line could not be written to /);
    expect(obs.status()[0]).toMatchObject({ lines_failed: 5, lines_written: 0 });
  });
});

describe('a directory that cannot be made', () => {
  // Node's recursive mkdir never returns under /proc (each mkdir there fails with ENOENT and
  // is retried): the sink makes each level itself. In a child process, so the old behaviour
  // fails the test by its timeout instead of hanging the run.
  it.skipIf(!fs.existsSync('/proc/self'))(
    'under /proc: the sink says why at once, and the process ends',
    () => {
      const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
      const script = `
        const { createJsonlSink } = await import(${JSON.stringify(entry)});
        const sink = createJsonlSink({ dir: '/proc/rlm-obs-no-such-dir/records' });
        const check = await sink.check();
        sink.onRunStart('r', { task: 't', environment: 'e', params: {} });
        const flushed = await sink.forceFlush().then(() => 'ok', (e) => e.message);
        console.log(JSON.stringify({ status: sink.status(), check, flushed }));
        await sink.shutdown().catch(() => {});
      `;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      const out = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
      expect(out.status).toMatchObject({ available: false });
      expect(out.status.detail).toMatch(/ENOENT/);
      expect(out.check.ok).toBe(false);
      expect(out.flushed).toMatch(/1 line could not be written/);
    },
  );
});
