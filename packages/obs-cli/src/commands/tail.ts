import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { EXIT, type GlobalOptions, openStore } from '../context.js';
import { formatTime, type Io, oneLine } from '../output.js';

/** Options of `rlm-obs tail`. */
export interface TailOptions extends GlobalOptions {
  follow?: boolean;
  lines?: string;
  interval?: string;
}

interface Record_ {
  file: 'start' | 'step' | 'end';
  line: Record<string, any>;
}

function describe(record: Record_, io: Io): string {
  const c = io.colors;
  const l = record.line;
  const when = formatTime(typeof l.timestamp === 'string' ? l.timestamp : undefined).slice(11);
  const run = String(l.run_id ?? '?');
  if (record.file === 'start')
    return `${c.dim(when)} ${run} ${c.cyan('start')} ${oneLine(l.task, 60)} ${c.dim(`(${l.environment ?? ''})`)}`;
  if (record.file === 'end') {
    const mark = l.completed ? c.green('completed') : c.red('did not complete');
    return `${c.dim(when)} ${run} ${c.cyan('end')} ${mark} steps=${l.steps} reward=${l.total_reward}`;
  }
  const ok = l.success === false ? c.red('✗') : l.success === true ? c.green('✓') : ' ';
  return `${c.dim(when)} ${run} ${c.cyan('step')} ${l.step} ${l.action ?? '-'} reward=${l.reward ?? '-'} ${ok}`;
}

/** Reads whole new lines appended to files since the last look. */
class Follower {
  readonly #offsets = new Map<string, number>();
  readonly #partial = new Map<string, string>();

  async read(file: string): Promise<Array<Record<string, any>>> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch {
      return [];
    }
    try {
      const { size } = await handle.stat();
      let from = this.#offsets.get(file) ?? 0;
      // Smaller than before: a new file under the name. A rotated steps file is read from
      // its start; an index file rewritten by pruning holds only lines shown already.
      if (size < from) {
        from = path.basename(path.dirname(file)) === 'steps' ? 0 : size;
        this.#offsets.set(file, from);
        this.#partial.delete(file);
        if (from === size) return [];
      }
      if (size <= from) return [];
      const buffer = Buffer.alloc(size - from);
      await handle.read(buffer, 0, buffer.length, from);
      this.#offsets.set(file, size);
      const text = (this.#partial.get(file) ?? '') + buffer.toString('utf8');
      const lines = text.split('\n');
      this.#partial.set(file, lines.pop() ?? '');
      const out: Array<Record<string, any>> = [];
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          out.push(JSON.parse(line));
        } catch {
          // a torn line from a crash: skip it
        }
      }
      return out;
    } finally {
      await handle.close();
    }
  }
}

/** `rlm-obs tail [-f]`: the latest records, and with -f new ones as they are written. */
export async function tailCommand(
  options: TailOptions,
  io: Io,
  signal?: AbortSignal,
): Promise<number> {
  const store = await openStore(options);
  const dir = store.dir;
  const count = options.lines ? Number(options.lines) : 20;
  const interval = options.interval ? Number(options.interval) : 250;
  const follower = new Follower();
  const files = (): Array<[string, Record_['file']]> => {
    const list: Array<[string, Record_['file']]> = [
      [path.join(dir, 'starts.jsonl'), 'start'],
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
    for (const [file, kind] of files())
      for (const line of await follower.read(file)) records.push({ file: kind, line });
    return records.sort((a, b) => String(a.line.timestamp).localeCompare(String(b.line.timestamp)));
  };
  const print = (records: Record_[]) => {
    for (const record of records)
      io.out(
        options.json ? JSON.stringify({ kind: record.file, ...record.line }) : describe(record, io),
      );
  };
  const initial = await collect();
  print(initial.slice(-count));
  if (!options.follow) {
    if (initial.length === 0 && !options.json) io.out(io.colors.dim(`no records yet in ${dir}`));
    return EXIT.ok;
  }
  if (!options.json) io.err(io.colors.dim(`following ${dir} (Ctrl-C to stop)`));
  await new Promise<void>((resolve) => {
    const timer = setInterval(
      () => {
        void collect().then(print);
      },
      Math.max(50, interval),
    );
    const stop = () => {
      clearInterval(timer);
      resolve();
    };
    signal?.addEventListener('abort', stop, { once: true });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return EXIT.ok;
}
