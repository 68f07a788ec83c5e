/**
 * 5,000 interleaved concurrent runs with the DEFAULT options, in a child process whose
 * open-files limit is low (256), so a sink that kept a descriptor per run would hit EMFILE.
 * Runs against the built dist/ (run `pnpm build` first; `pnpm test` does).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readLines, useTempDirs } from './helpers.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('./fixtures/many-runs.mjs', import.meta.url));
const dir = useTempDirs();

const RUNS = 5000;
const ROUNDS = 4;
const FD_LIMIT = 256;

describe('5,000 interleaved concurrent runs under a low open-files limit', () => {
  it(`default options, ulimit -n ${FD_LIMIT}: exit 0, no EMFILE, every line valid, exact counts`, async () => {
    const base = dir();
    const { stdout, stderr } = await run(
      'bash',
      [
        '-c',
        `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`,
        process.execPath,
        script,
        base,
        String(RUNS),
        String(ROUNDS),
      ],
      { timeout: 240_000, maxBuffer: 16 << 20 },
    ).catch((error: { code?: unknown; stderr?: string }) => {
      throw new Error(`exit ${String(error.code)}: ${error.stderr ?? ''}`);
    });
    expect(stderr).not.toMatch(/EMFILE|too many open files/i);
    expect(stdout).not.toMatch(/EMFILE|too many open files/i);
    const { report, status, maxOpen, limit } = JSON.parse(stdout);
    // The limit really applied to the process.
    expect(limit).toBe(FD_LIMIT);
    expect(report.ok).toBe(true);
    const lines = RUNS * (2 + ROUNDS + 2); // start, steps, end, and the 2 end-of-run scores
    expect(report.sinks[0]).toMatchObject({ delivered: lines, failed: 0, dropped: 0 });
    expect(status).toMatchObject({
      lines_written: lines,
      lines_failed: 0,
      lines_dropped: 0,
      backlog: 0,
      open_files: 0,
    });
    expect(status).not.toHaveProperty('last_error');
    expect(maxOpen).toBeGreaterThan(0);
    expect(maxOpen).toBeLessThan(FD_LIMIT);

    // Every file, every line.
    const runs = readLines(path.join(base, 'runs.jsonl'));
    expect(runs).toHaveLength(RUNS);
    expect(new Set(runs.map((r) => r.run_id)).size).toBe(RUNS);
    for (const r of runs)
      expect(r).toMatchObject({ completed: true, steps: ROUNDS, step_count_observed: ROUNDS });
    const starts = readLines(path.join(base, 'starts.jsonl'));
    expect(new Set(starts.map((s) => s.run_id)).size).toBe(RUNS);
    expect(starts).toHaveLength(RUNS);
    expect(readLines(path.join(base, 'scores.jsonl'))).toHaveLength(2 * RUNS);
    const stepFiles = fs.readdirSync(path.join(base, 'steps')).sort();
    expect(stepFiles).toEqual(Array.from({ length: RUNS }, (_, i) => `many-${i}.jsonl`).sort());
    let stepLines = 0;
    for (const name of stepFiles) {
      const steps = readLines(path.join(base, 'steps', name));
      const id = name.slice(0, -'.jsonl'.length);
      expect(steps.map((s) => [s.run_id, s.step, s.cumulative_reward])).toEqual(
        Array.from({ length: ROUNDS }, (_, i) => [id, i + 1, i + 1]),
      );
      stepLines += steps.length;
    }
    expect(stepLines).toBe(RUNS * ROUNDS);
  }, 300_000);
});
