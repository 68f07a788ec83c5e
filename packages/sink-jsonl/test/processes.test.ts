/**
 * Tests across real processes, against the built dist/ (run `pnpm build` first; `pnpm test`
 * does).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { listFiles, readLines, tempDir } from './helpers.js';

const run = promisify(execFile);
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function dir(): string {
  const t = tempDir('rlm-obs-proc-');
  cleanups.push(t.remove);
  return t.dir;
}

async function pool<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

describe('processes that never call flush', () => {
  it('1 run of 50 steps, natural exit, 100 times in a row: every record is on disk', async () => {
    const base = dir();
    const ids = Array.from({ length: 100 }, (_, i) => `proc-${i}`);
    await pool(ids, 4, async (id) => {
      await run(process.execPath, [path.join(fixtures, 'record-run.mjs'), base, id, '50']);
    });
    const runs = readLines(path.join(base, 'runs.jsonl'));
    expect(runs.map((r) => r.run_id).sort()).toEqual([...ids].sort());
    expect(readLines(path.join(base, 'starts.jsonl'))).toHaveLength(100);
    for (const id of ids) {
      const steps = readLines(path.join(base, 'steps', `${id}.jsonl`));
      expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    }
    for (const r of runs)
      expect(r).toMatchObject({
        completed: true,
        steps: 50,
        step_count_observed: 50,
        total_reward: 50,
      });
  }, 180_000);

  it('a host that calls process.exit() right after its run still gets every record out', async () => {
    const base = dir();
    await pool([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4, async (i) => {
      await run(process.execPath, [
        path.join(fixtures, 'record-run.mjs'),
        base,
        `exit-${i}`,
        '50',
        'exit',
      ]);
    });
    expect(readLines(path.join(base, 'runs.jsonl'))).toHaveLength(10);
    for (let i = 0; i < 10; i++)
      expect(readLines(path.join(base, 'steps', `exit-${i}.jsonl`))).toHaveLength(50);
  }, 60_000);

  it('shutdown({timeoutMs: 2000}) with a hung sink returns within 2.1 s and the process exits by itself', async () => {
    const base = dir();
    const { stdout } = await run(
      process.execPath,
      [path.join(fixtures, 'hung-shutdown.mjs'), base],
      { timeout: 20_000 },
    );
    const { elapsed, report } = JSON.parse(stdout);
    expect(elapsed).toBeGreaterThanOrEqual(1990);
    expect(elapsed).toBeLessThan(2100);
    expect(report.sinks.map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual([
      ['local-jsonl', true],
      ['hung', false],
    ]);
    expect(readLines(path.join(base, 'steps', 'hung-run.jsonl'))).toHaveLength(10);
  }, 30_000);
});

describe('several processes, one directory', () => {
  it('four processes appending to the same files: every line valid, exact counts', async () => {
    const base = dir();
    const steps = 4000;
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((tag) =>
        run(process.execPath, [path.join(fixtures, 'append-shared.mjs'), base, tag, String(steps)]),
      ),
    );
    const shared = readLines(path.join(base, 'steps', 'shared.jsonl'));
    expect(shared).toHaveLength(4 * steps);
    for (const tag of ['a', 'b', 'c', 'd']) {
      const mine = shared.filter((l) => l.event.writer === tag).map((l) => l.step);
      expect(mine).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
      expect(readLines(path.join(base, 'steps', `own-${tag}.jsonl`))).toHaveLength(steps);
    }
    expect(readLines(path.join(base, 'runs.jsonl'))).toHaveLength(4);
    expect(readLines(path.join(base, 'starts.jsonl'))).toHaveLength(4);
    // reward and completed of each process's own run.
    expect(readLines(path.join(base, 'scores.jsonl'))).toHaveLength(4 * 2);
    // runs, starts and scores, and 5 steps files.
    expect(listFiles(base)).toHaveLength(3 + 5);
  }, 120_000);
});

describe('packaging', () => {
  it('require() works from CommonJS', async () => {
    const base = dir();
    const { stdout } = await run(process.execPath, [path.join(fixtures, 'require-core.cjs'), base]);
    expect(JSON.parse(stdout)).toEqual({
      ok: true,
      memory: 'function',
      doubles: 'function',
      run: 'function',
    });
    expect(fs.existsSync(path.join(base, 'steps', 'from-cjs.jsonl'))).toBe(true);
  });
});
