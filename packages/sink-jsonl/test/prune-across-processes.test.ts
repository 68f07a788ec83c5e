/**
 * Pruning in one process while another keeps writing to the same directory (DESIGN §6:
 * several processes may share one). Against the built dist/ (run `pnpm build` first).
 *
 * The pruning process rewrites runs.jsonl, starts.jsonl and scores.jsonl by renaming a new
 * file over each; the other process's descriptors still point at the old, unlinked files.
 * Every line it writes after the rewrite must land in the files on disk.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonlWriter } from '../src/jsonl-writer.js';
import { openJsonlStore } from '../src/reader.js';
import { readLines, tempDir } from './helpers.js';

const exec = promisify(execFile);
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** The long-lived writer: send a command, get its answer line. */
function startWriter(dir: string): {
  send(command: string): Promise<string>;
  child: ChildProcessWithoutNullStreams;
} {
  const child = spawn(process.execPath, [path.join(fixtures, 'long-writer.mjs'), dir]);
  cleanups.push(() => child.kill());
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const answers: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else answers.push(line);
  });
  child.on('exit', (code) => {
    for (const next of waiting.splice(0)) next(`exited ${code}: ${stderr}`);
  });
  return {
    child,
    send(command) {
      child.stdin.write(`${command}\n`);
      const ready = answers.shift();
      return ready !== undefined
        ? Promise.resolve(ready)
        : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

async function pruneOnce(dir: string): Promise<Record<string, unknown>> {
  const { stdout } = await exec(process.execPath, [path.join(fixtures, 'prune-once.mjs'), dir]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

const ids = (file: string) => readLines(file).map((l) => l.run_id as string);

describe('pruning by another process', () => {
  it('every line the writer writes after the rewrite is on disk, and its runs read back finished', async () => {
    const t = tempDir('rlm-obs-prune-mp-');
    cleanups.push(t.remove);
    const dir = t.dir;
    const writer = startWriter(dir);
    expect(await writer.send('old')).toBe('ok');
    expect(await writer.send('open')).toBe('ok');

    // Two rounds: the writer's descriptors are replaced under it twice.
    expect((await pruneOnce(dir)).pruned_runs).toBe(2);
    expect(await writer.send('new 3')).toBe('ok');
    expect(await writer.send('old')).toBe('ok');
    expect((await pruneOnce(dir)).pruned_runs).toBe(2);
    expect(await writer.send('new 2')).toBe('ok');
    const status = JSON.parse(await writer.send('end')) as Record<string, unknown>;
    expect(status).toMatchObject({ lines_failed: 0, lines_dropped: 0, backlog: 0 });

    const fresh = ['new-1', 'new-2', 'new-3', 'new-4', 'new-5'];
    expect(ids(path.join(dir, 'runs.jsonl')).sort()).toEqual([...fresh, 'long'].sort());
    expect(ids(path.join(dir, 'starts.jsonl')).sort()).toEqual(['long', ...fresh].sort());
    // judge, and the end-of-run reward and completed, of every new run and of the long one.
    const scores = readLines(path.join(dir, 'scores.jsonl'));
    for (const id of fresh)
      expect(
        scores
          .filter((s) => s.run_id === id)
          .map((s) => s.name)
          .sort(),
      ).toEqual(['completed', 'judge', 'reward']);
    expect(scores.filter((s) => s.run_id === 'long')).toHaveLength(2);

    const store = openJsonlStore(dir);
    const listed = await store.listRuns();
    expect(listed.map((r) => r.runId).sort()).toEqual(['long', ...fresh].sort());
    for (const summary of listed) expect(summary.state).toBe('ended');
    for (const id of fresh) {
      const run = await store.readRun(id);
      expect(run.steps).toHaveLength(3);
      expect(run.end?.result.completed).toBe(true);
    }
    // The open run's steps before and after both passes are all there.
    expect((await store.readRun('long')).steps).toHaveLength(3);
  }, 60_000);
});

describe('the writer, when its open file is replaced or removed by someone else', () => {
  it('writes the next batch to the file the path names now (created again when removed)', async () => {
    const t = tempDir('rlm-obs-reopen-');
    cleanups.push(t.remove);
    const file = path.join(t.dir, 'index.jsonl');
    const writer = new JsonlWriter();
    const line = (_id: string, payload: unknown, _t: number, write: (p: string) => void) =>
      write(JSON.stringify(payload));
    writer.append(file, line, 'r', { n: 1 }, 0);
    await writer.flush();
    expect(writer.stats.openFiles).toBe(1);
    // Another process's atomic rewrite: a new file renamed over the path.
    fs.writeFileSync(`${file}.tmp`, `${JSON.stringify({ n: 1, rewritten: true })}\n`);
    fs.renameSync(`${file}.tmp`, file);
    writer.append(file, line, 'r', { n: 2 }, 0);
    await writer.flush();
    expect(readLines(file)).toEqual([{ n: 1, rewritten: true }, { n: 2 }]);
    // Removed: created again.
    fs.rmSync(file);
    writer.append(file, line, 'r', { n: 3 }, 0);
    await writer.flush();
    expect(readLines(file)).toEqual([{ n: 3 }]);
    // Unchanged: the same descriptor goes on.
    writer.append(file, line, 'r', { n: 4 }, 0);
    await writer.close();
    expect(readLines(file)).toEqual([{ n: 3 }, { n: 4 }]);
    expect(writer.stats).toMatchObject({
      linesWritten: 4,
      linesFailed: 0,
      reopens: 2,
      openFiles: 0,
    });
  });
});
