/**
 * Local retention: pruning the oldest finished runs so a long-lived agent never fills a disk.
 * Runs off the hot path (a timer, and `forceFlush()`/`shutdown()`).
 *
 * A pass measures the directory (the index files and every steps file, rotated parts
 * included), reads `runs.jsonl` for the finished runs and their end times, and removes the
 * oldest finished ones until the total is at most `maxTotalBytes` and no finished run is older
 * than `maxAgeDays`. Open runs (no `runs.jsonl` line, or still open in this process) are
 * never removed. Removing a run deletes its steps files (every part) and drops its lines from
 * `runs.jsonl`, `starts.jsonl` and `scores.jsonl` by atomic rewrite (a temporary file in the
 * same directory, then `rename`).
 *
 * Memory: one small record per finished run in the directory during a pass; files are read
 * as streams.
 *
 * Another process appending to the same directory while a rewrite is in progress can lose
 * the lines it appended between the read and the rename (this process's own lines wait in
 * memory meanwhile and are never lost). Its later lines are not lost: its writer checks before
 * each batch that the path still names the file it has open, and opens the new file when not
 * (see jsonl-writer.ts). To avoid even that window, enable retention in one process per
 * directory only, or give each long-lived process its own directory.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parsePartFileName, stepFileName } from './file-names.js';
import { readTextLines } from './reader.js';

/** The `retention` option of the `local-jsonl` sink. */
export interface RetentionOptions {
  /** Largest total size of the directory, in bytes (the oldest finished runs go first). */
  maxTotalBytes?: number;
  /** Finished runs older than this many days go. */
  maxAgeDays?: number;
  /** A run's steps file rotates to `steps/<name>~<n>.jsonl` past this size, in bytes. */
  maxStepFileBytes?: number;
  /** How often pruning runs, in milliseconds. @defaultValue `60000` */
  checkIntervalMs?: number;
}

/** What one pass removed. */
export interface PruneResult {
  runs: number;
  bytes: number;
}

/** What a pass needs to know and may do. @internal */
export interface PruneContext {
  dir: string;
  stepsDir: string;
  runsFile: string;
  startsFile: string;
  scoresFile: string;
  maxTotalBytes: number | undefined;
  maxAgeDays: number | undefined;
  now: number;
  /** A run still open in this process. */
  isOpen(runId: string): boolean;
  /** Runs `fn` while the writer leaves `files` alone (after writing what `drain` has). */
  exclusive<T>(files: string[], fn: () => Promise<T>, drain: string[]): Promise<T>;
}

interface Candidate {
  runId: string;
  finishedMs: number;
  /** Its lines in the index files plus its steps files. */
  bytes: number;
}

async function size(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).size;
  } catch {
    return 0;
  }
}

/** Each line's text and its run id (undefined when the line is not a JSON object with one). */
async function* lines(file: string): AsyncGenerator<{ text: string; runId: string | undefined }> {
  for await (const text of readTextLines(file)) {
    let runId: string | undefined;
    try {
      const value = JSON.parse(text) as { run_id?: unknown } | null;
      if (value && typeof value.run_id === 'string') runId = value.run_id;
    } catch {
      runId = undefined;
    }
    yield { text, runId };
  }
}

const lineBytes = (text: string) => Buffer.byteLength(text, 'utf8') + 1;

/**
 * Rewrites `file` without the lines of `drop`: a temporary file next to it, then `rename`.
 * Returns the bytes removed. Lines that are not JSON are kept as they are.
 */
async function rewriteWithout(file: string, drop: ReadonlySet<string>): Promise<number> {
  const temp = `${file}.prune-${process.pid}.tmp`;
  let removed = 0;
  const handle = await fsp.open(temp, 'w', 0o644);
  try {
    let chunk: string[] = [];
    let chunkBytes = 0;
    for await (const { text, runId } of lines(file)) {
      if (runId !== undefined && drop.has(runId)) {
        removed += lineBytes(text);
        continue;
      }
      if (text.trim() === '') continue;
      chunk.push(text);
      chunkBytes += text.length;
      if (chunkBytes > 1 << 20) {
        await handle.write(`${chunk.join('\n')}\n`);
        chunk = [];
        chunkBytes = 0;
      }
    }
    if (chunk.length > 0) await handle.write(`${chunk.join('\n')}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fsp.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  if (removed === 0) {
    await fsp.rm(temp, { force: true });
    return 0;
  }
  await fsp.rename(temp, file);
  return removed;
}

/** One pruning pass over a directory. */
export async function pruneDirectory(ctx: PruneContext): Promise<PruneResult> {
  const limit = ctx.maxTotalBytes;
  const cutoff =
    ctx.maxAgeDays !== undefined ? ctx.now - ctx.maxAgeDays * 86_400_000 : Number.NEGATIVE_INFINITY;
  if (limit === undefined && ctx.maxAgeDays === undefined) return { runs: 0, bytes: 0 };

  // Steps files by the current file's name: the bytes and the paths of every part.
  const stepFiles = new Map<string, { bytes: number; paths: string[] }>();
  let total = 0;
  let names: string[] = [];
  try {
    names = await fsp.readdir(ctx.stepsDir);
  } catch {
    names = [];
  }
  for (const name of names) {
    if (!name.endsWith('.jsonl')) continue;
    const full = path.join(ctx.stepsDir, name);
    const bytes = await size(full);
    total += bytes;
    const key = parsePartFileName(name)?.file ?? name;
    const entry = stepFiles.get(key) ?? { bytes: 0, paths: [] };
    entry.bytes += bytes;
    entry.paths.push(full);
    stepFiles.set(key, entry);
  }
  for (const file of [ctx.runsFile, ctx.startsFile, ctx.scoresFile]) total += await size(file);

  // Finished runs: a runs.jsonl line, and not open here.
  const finished = new Map<string, Candidate>();
  for await (const { text, runId } of lines(ctx.runsFile)) {
    if (runId === undefined || ctx.isOpen(runId)) continue;
    let finishedMs = Number.NaN;
    try {
      const line = JSON.parse(text) as { finished_at?: unknown; timestamp?: unknown };
      finishedMs = Date.parse(String(line.finished_at ?? ''));
      if (!Number.isFinite(finishedMs)) finishedMs = Date.parse(String(line.timestamp ?? ''));
    } catch {
      finishedMs = Number.NaN;
    }
    const candidate = finished.get(runId);
    if (candidate) {
      candidate.bytes += lineBytes(text);
      if (Number.isFinite(finishedMs))
        candidate.finishedMs = Number.isFinite(candidate.finishedMs)
          ? Math.max(candidate.finishedMs, finishedMs)
          : finishedMs;
    } else {
      finished.set(runId, { runId, finishedMs, bytes: lineBytes(text) });
    }
  }
  if (finished.size === 0) return { runs: 0, bytes: 0 };
  for (const file of [ctx.startsFile, ctx.scoresFile]) {
    for await (const { text, runId } of lines(file)) {
      const candidate = runId === undefined ? undefined : finished.get(runId);
      if (candidate) candidate.bytes += lineBytes(text);
    }
  }
  for (const candidate of finished.values())
    candidate.bytes += stepFiles.get(stepFileName(candidate.runId))?.bytes ?? 0;

  // Oldest first (an unknown end time counts as oldest).
  const ordered = [...finished.values()].sort(
    (a, b) =>
      (Number.isFinite(a.finishedMs) ? a.finishedMs : Number.NEGATIVE_INFINITY) -
      (Number.isFinite(b.finishedMs) ? b.finishedMs : Number.NEGATIVE_INFINITY),
  );
  const chosen: Candidate[] = [];
  for (const candidate of ordered) {
    const tooBig = limit !== undefined && total > limit;
    const tooOld = Number.isFinite(candidate.finishedMs) && candidate.finishedMs < cutoff;
    if (!tooBig && !tooOld) {
      // Sorted by end time: the rest are newer, and the size is within the limit.
      if (Number.isFinite(candidate.finishedMs)) break;
      continue;
    }
    chosen.push(candidate);
    total -= candidate.bytes;
  }
  if (chosen.length === 0) return { runs: 0, bytes: 0 };

  const drop = new Set(chosen.map((c) => c.runId));
  const current = chosen.map((c) => path.join(ctx.stepsDir, stepFileName(c.runId)));
  return ctx.exclusive(
    [ctx.runsFile, ctx.startsFile, ctx.scoresFile],
    async () => {
      let bytes = 0;
      for (const file of [ctx.runsFile, ctx.startsFile, ctx.scoresFile])
        bytes += await rewriteWithout(file, drop);
      for (const candidate of chosen) {
        const entry = stepFiles.get(stepFileName(candidate.runId));
        // Parts rotated since the listing are found again by name.
        const paths = new Set(entry?.paths ?? []);
        paths.add(path.join(ctx.stepsDir, stepFileName(candidate.runId)));
        for (const file of paths) {
          const bytesOf = await size(file);
          try {
            await fsp.rm(file);
            bytes += bytesOf;
          } catch {
            // already gone
          }
        }
      }
      return { runs: chosen.length, bytes };
    },
    current,
  );
}
