import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { CliError, EXIT, type GlobalOptions, readableJsonlDir } from '../context.js';
import {
  formatScoreValue,
  formatTime,
  formatValue,
  type Io,
  oneLine,
  printable,
} from '../output.js';

/** Options of `rlm-obs tail`. */
export interface TailOptions extends GlobalOptions {
  follow?: boolean;
  lines?: string;
  interval?: string;
}

interface Record_ {
  file: 'start' | 'step' | 'score' | 'end';
  line: Record<string, any>;
}

/**
 * Records written in the same millisecond go in the order a run makes them: its start, its
 * steps, its scores (the end-of-run `reward` and `completed` are written just before the
 * end), its end.
 */
const KIND_ORDER: Record<Record_['file'], number> = { start: 0, step: 1, score: 2, end: 3 };

/** A line's time: epoch milliseconds when it parses (`Z` and `+00:00` alike), else its text. */
function timeOf(line: Record<string, any>): number | string {
  const t = Date.parse(String(line.timestamp));
  return Number.isFinite(t) ? t : String(line.timestamp);
}

/** Records by time, then by kind ({@link KIND_ORDER}), then as read (the sort is stable). */
export function sortRecords<T extends Record_>(records: T[]): T[] {
  const keyed = records.map((record) => ({ record, at: timeOf(record.line) }));
  keyed.sort((a, b) => {
    const byTime =
      typeof a.at === 'number' && typeof b.at === 'number'
        ? a.at - b.at
        : String(a.record.line.timestamp).localeCompare(String(b.record.line.timestamp));
    return byTime || KIND_ORDER[a.record.file] - KIND_ORDER[b.record.file];
  });
  return keyed.map((k) => k.record);
}

function describe(record: Record_, io: Io): string {
  const c = io.colors;
  const l = record.line;
  const when = formatTime(typeof l.timestamp === 'string' ? l.timestamp : undefined).slice(11);
  const run = oneLine(l.run_id ?? '?', 200);
  if (record.file === 'start')
    return `${c.dim(when)} ${run} ${c.cyan('start')} ${oneLine(l.task, 60)} ${c.dim(`(${oneLine(l.environment ?? '', 60)})`)}`;
  if (record.file === 'end') {
    const mark = l.completed ? c.green('completed') : c.red('did not complete');
    return `${c.dim(when)} ${run} ${c.cyan('end')} ${mark} steps=${oneLine(l.steps, 20)} reward=${formatValue(l.total_reward)}`;
  }
  if (record.file === 'score') {
    const value = formatScoreValue(l.value);
    const extra = [
      ...(typeof l.source === 'string' && l.source ? [`source ${l.source}`] : []),
      ...(l.step !== undefined && l.step !== null ? [`step ${l.step}`] : []),
      ...(typeof l.comment === 'string' && l.comment ? [JSON.stringify(l.comment)] : []),
    ];
    return `${c.dim(when)} ${run} ${c.cyan(l.kind === 'feedback' ? 'feedback' : 'score')} ${oneLine(l.name ?? '?', 60)} = ${oneLine(value, 60)}${extra.length > 0 ? ` ${c.dim(oneLine(extra.join(' '), 120))}` : ''}`;
  }
  const ok = l.success === false ? c.red('✗') : l.success === true ? c.green('✓') : ' ';
  return `${c.dim(when)} ${run} ${c.cyan('step')} ${oneLine(l.step, 20)} ${oneLine(l.action ?? '-', 60)} reward=${formatValue(l.reward ?? '-')} ${ok}`;
}

/** Where a file is now and how far it has been read. */
interface Followed {
  path: string;
  offset: number;
  partial: string;
  /** Scans in a row that did not see the file. */
  missed: number;
}

/** `steps/x~2.jsonl` is a part of `steps/x.jsonl` (rotation renames the current file so). */
function isPartOf(part: string, current: string): boolean {
  if (path.dirname(part) !== path.dirname(current)) return false;
  const match = /^(.+)~[1-9][0-9]{0,8}\.jsonl$/.exec(path.basename(part));
  return match !== null && `${match[1]}.jsonl` === path.basename(current);
}

/**
 * Reads whole new lines appended to files since the last look. Files are followed by
 * identity (device, inode and birth time), not by name: when a steps file rotates — the
 * sink renames `steps/<run>.jsonl` to `steps/<run>~<n>.jsonl` and starts a new
 * `steps/<run>.jsonl` — the renamed file keeps its offset under its new name and the new
 * current file is read from its start, so every line is read exactly once.
 */
class Follower {
  /** By identity. */
  readonly #files = new Map<string, Followed>();
  /** The identity last seen at each path. */
  readonly #atPath = new Map<string, string>();
  #seen = new Set<string>();

  /** Call before each scan over the files; forgets files gone for a few scans. */
  begin(): void {
    for (const [id, followed] of this.#files) {
      if (this.#seen.has(id)) followed.missed = 0;
      else if (++followed.missed > 3) {
        this.#files.delete(id);
        if (this.#atPath.get(followed.path) === id) this.#atPath.delete(followed.path);
      }
    }
    this.#seen = new Set();
  }

  async read(file: string): Promise<Array<Record<string, any>>> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch {
      return [];
    }
    try {
      const stat = await handle.stat({ bigint: true });
      const id = `${stat.dev}:${stat.ino}:${stat.birthtimeNs}`;
      const size = Number(stat.size);
      this.#seen.add(id);
      let followed = this.#files.get(id);
      // The same file, here or renamed to one of its rotated parts; else a file new to us
      // (an inode number reused by another file is a new file too).
      if (followed && followed.path !== file && !isPartOf(file, followed.path))
        followed = undefined;
      if (!followed) {
        const before = this.#atPath.get(file);
        const previous = before === undefined ? undefined : this.#files.get(before);
        // A steps file new under a known name is the current part after a rotation: from its
        // start. An index file replaced under its name (pruning rewrites it without the
        // removed runs' lines) holds the lines shown already: from where the old one ended.
        const from =
          previous && path.basename(path.dirname(file)) !== 'steps'
            ? Math.min(previous.offset, size)
            : 0;
        followed = { path: file, offset: from, partial: '', missed: 0 };
        this.#files.set(id, followed);
      }
      if (this.#atPath.get(followed.path) === id && followed.path !== file)
        this.#atPath.delete(followed.path);
      followed.path = file;
      this.#atPath.set(file, id);
      // Smaller than before: cut in place. A steps file is read again from its start; an
      // index file holds only lines shown already.
      if (size < followed.offset) {
        followed.offset = path.basename(path.dirname(file)) === 'steps' ? 0 : size;
        followed.partial = '';
      }
      const from = followed.offset;
      if (size <= from) return [];
      const buffer = Buffer.alloc(size - from);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
      followed.offset = from + bytesRead;
      const text = followed.partial + buffer.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      followed.partial = lines.pop() ?? '';
      const out: Array<Record<string, any>> = [];
      for (const line of lines) {
        if (!line.trim()) continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          continue; // a torn line from a crash: skip it
        }
        // Only records (a `null`, a number or a list is no record): skip the rest.
        if (value !== null && typeof value === 'object' && !Array.isArray(value))
          out.push(value as Record<string, any>);
      }
      return out;
    } finally {
      await handle.close();
    }
  }
}

/** A whole number from an option, at least `min`, or a usage error. */
function wholeNumber(value: string | undefined, fallback: number, flag: string, min: number) {
  if (value === undefined) return fallback;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new CliError(
      `${flag} must be a ${min === 0 ? 'whole number (0 or more)' : 'positive whole number'}, not '${printable(value)}'`,
      EXIT.usage,
    );
  return n;
}

/** `rlm-obs tail [-f]`: the latest records, and with -f new ones as they are written. */
export async function tailCommand(
  options: TailOptions,
  io: Io,
  signal?: AbortSignal,
): Promise<number> {
  const count = wholeNumber(options.lines, 20, '-n/--lines', 0);
  const interval = wholeNumber(options.interval, 250, '--interval', 1);
  const { dir, exists } = await readableJsonlDir(options, { waitForIt: Boolean(options.follow) });
  const follower = new Follower();
  const files = (): Array<[string, Record_['file']]> => {
    const list: Array<[string, Record_['file']]> = [
      [path.join(dir, 'starts.jsonl'), 'start'],
      [path.join(dir, 'scores.jsonl'), 'score'],
      [path.join(dir, 'runs.jsonl'), 'end'],
    ];
    const steps = path.join(dir, 'steps');
    if (existsSync(steps))
      for (const name of readdirSync(steps))
        if (name.endsWith('.jsonl')) list.push([path.join(steps, name), 'step']);
    return list;
  };
  const collect = async (): Promise<Record_[]> => {
    const records: Record_[] = [];
    follower.begin();
    for (const [file, kind] of files())
      for (const line of await follower.read(file)) records.push({ file: kind, line });
    return sortRecords(records);
  };
  const print = (records: Record_[]) => {
    for (const record of records)
      io.out(
        options.json ? JSON.stringify({ kind: record.file, ...record.line }) : describe(record, io),
      );
  };
  const initial = await collect();
  print(count === 0 ? [] : initial.slice(-count));
  if (!options.follow) {
    if (initial.length === 0 && !options.json)
      io.out(io.colors.dim(`no records yet in ${printable(dir)}`));
    return EXIT.ok;
  }
  if (!options.json)
    io.err(
      io.colors.dim(
        exists
          ? `following ${printable(dir)} (Ctrl-C to stop)`
          : `${printable(dir)} does not exist yet; waiting for it to appear (Ctrl-C to stop)`,
      ),
    );
  await new Promise<void>((resolve) => {
    // One look at a time: the next is scheduled when this one has printed, so two looks
    // never read the same new lines.
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const look = () => {
      timer = undefined;
      void collect()
        .then(print)
        // A file that went away between the listing and the read: the next look sees.
        .catch(() => undefined)
        .finally(() => {
          if (!stopped) timer = setTimeout(look, Math.max(50, interval));
        });
    };
    timer = setTimeout(look, Math.max(50, interval));
    const stop = () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      resolve();
    };
    signal?.addEventListener('abort', stop, { once: true });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return EXIT.ok;
}
