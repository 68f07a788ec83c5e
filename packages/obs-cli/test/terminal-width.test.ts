/**
 * Output fits a terminal (DESIGN §7): on a TTY the tables of `status`, `runs`, `sinks` and
 * `query` are fitted to its width — long cells wrap, the widest columns narrow first, and
 * columns that cannot fit are left out and named. Not on a TTY: as wide as the text.
 * The commands run in-process through `main()` with a fake terminal of a given width.
 */
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';
import pc from 'picocolors';
import stringWidth from 'string-width';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemoAgent } from '../src/demo-agent.js';
import { type Io, table, wrapText } from '../src/output.js';
import { main } from '../src/program.js';
import { tempDir } from './cli-helpers.js';

let tmp: ReturnType<typeof tempDir>;
let dir: string;
let runIds: string[];

beforeAll(async () => {
  tmp = tempDir();
  dir = path.join(tmp.dir, 'obs');
  const obs = RLMObservability.withSinks([createJsonlSink({ dir })], {
    flushOnExit: false,
    logger: false,
  });
  const demo = await runDemoAgent(obs, { runs: 3, steps: 3 });
  runIds = [...demo.runIds, ...demo.nestedRunIds];
  await obs.shutdown();
}, 60_000);
afterAll(() => tmp.remove());

/** A terminal `columns` wide (or a pipe, without `columns`), colours on as on a TTY. */
function terminal(columns: number | undefined): Io & { lines: () => string[] } {
  const out: string[] = [];
  return {
    out: (t) => out.push(t),
    err: (t) => out.push(t),
    colors: pc.createColors(columns !== undefined),
    isTTY: columns !== undefined,
    ...(columns !== undefined ? { columns } : {}),
    lines: () => out.join('\n').split('\n'),
  };
}

const plain = (line: string) => line.replace(/\u001b\[[0-9;]*m/g, '');
const widest = (lines: string[]) => Math.max(...lines.map((l) => [...plain(l)].length));

describe('tables fit the terminal', () => {
  it('status, runs, sinks and query --schema are no wider than an 80-column terminal', async () => {
    for (const args of [
      ['status', '--dir', dir],
      ['runs', '--dir', dir],
      ['sinks'],
      ['query', '--schema', '--dir', dir],
      ['query', 'SELECT run_id, task, environment, started_at FROM runs', '--dir', dir],
    ]) {
      const io = terminal(80);
      expect(await main(args, io), args.join(' ')).toBe(0);
      expect(widest(io.lines()), args.join(' ')).toBeLessThanOrEqual(80);
    }
  });

  it('runs: every id is there in full (wrapped), left-out columns are named; wider terminals show more', async () => {
    const narrow = terminal(80);
    expect(await main(['runs', '--dir', dir], narrow)).toBe(0);
    const text = narrow.lines().map(plain);
    // A wrapped id: its pieces, read across the lines of the first column, make the id.
    const firstColumn = text
      .filter((l) => l.startsWith('│'))
      .map((l) => l.split('│')[1]!.trim())
      .join('');
    for (const id of runIds) expect(firstColumn).toContain(id);
    expect(text.join('\n')).toMatch(/not shown, to fit the terminal: .*environment/);
    expect(text.join('\n')).toContain('--json has every column');

    const wide = terminal(200);
    expect(await main(['runs', '--dir', dir], wide)).toBe(0);
    expect(widest(wide.lines())).toBeLessThanOrEqual(200);
    expect(wide.lines().join('\n')).not.toContain('not shown');
    for (const id of runIds) expect(wide.lines().join('\n')).toContain(id);
  });

  it('runs and status fit 40 and 60 columns: ids wrap over more lines, sink names stay whole', async () => {
    for (const columns of [40, 60]) {
      const runs = terminal(columns);
      expect(await main(['runs', '--dir', dir], runs)).toBe(0);
      const runsText = runs.lines().map(plain);
      // The table and its note (the line after them names the directory, a path kept whole).
      expect(widest(runsText.slice(0, -1)), `runs @${columns}`).toBeLessThanOrEqual(columns);
      const firstColumn = runsText
        .filter((l) => l.startsWith('│'))
        .map((l) => l.split('│')[1]!.trim())
        .join('');
      for (const id of runIds) expect(firstColumn, `runs @${columns}`).toContain(id);
      // The essential columns are there; what is left out is named (within the width).
      for (const header of ['run', 'reward', 'completed'])
        expect(runsText[1], `runs @${columns}`).toContain(header);
      expect(runsText.join(' '), `runs @${columns}`).toContain('--json has every column');

      const status = terminal(columns);
      expect(await main(['status', '--dir', dir], status)).toBe(0);
      const statusText = status.lines().map(plain);
      expect(widest(statusText), `status @${columns}`).toBeLessThanOrEqual(columns);
      const names = statusText.filter((l) => l.startsWith('│')).map((l) => l.split('│')[1]!.trim());
      for (const name of ['local-jsonl', 'opentelemetry', 'mlflow'])
        expect(names, `status @${columns}`).toContain(name);
      expect(statusText.join('\n'), `status @${columns}`).toContain('detail');
    }
  });

  it('narrower than the essential columns: the table is as narrow as they allow, the note fits', async () => {
    const runs = terminal(20);
    expect(await main(['runs', '--dir', dir], runs)).toBe(0);
    const text = runs.lines().map(plain).slice(0, -1);
    // The documented minimum: about 36 columns for runs.
    expect(widest(text)).toBeLessThanOrEqual(36);
    const note = text.slice(text.findIndex((l) => l.startsWith('(not shown')));
    expect(note.join(' ')).toContain('--json has every column');
    for (const l of note.slice(0, -1)) expect([...l].length, l).toBeLessThanOrEqual(20);
  });

  it('wide characters (CJK, emoji) count two cells: nothing is cut on a wide terminal', async () => {
    const cjkDir = path.join(tmp.dir, 'cjk');
    const obs = RLMObservability.withSinks([createJsonlSink({ dir: cjkDir })], {
      flushOnExit: false,
      logger: false,
    });
    const env = '数据分析环境🚀测试';
    const run = obs.startRun({ task: 't', environment: env });
    run.end({ completed: true, finalAnswer: 'ok' });
    await obs.shutdown();
    const wide = terminal(200);
    expect(await main(['runs', '--dir', cjkDir], wide)).toBe(0);
    const text = wide.lines().join('\n');
    expect(text).toContain(env);
    expect(text).not.toContain('…');

    const cell = '日本語のテキスト 😀 emoji 👍🏽 and more 漢字';
    const out = table(['name', 'detail'], [['local', cell]], { width: 200 });
    expect(out).toContain(cell);
    expect(out).not.toContain('…');
    // Wrapped to a narrow column, every line fits its cells and the text is all there.
    const narrow = table(['name', 'detail'], [['local', cell]], { width: 24 });
    expect(narrow).not.toContain('…');
    expect(narrow.replace(/[│┌┐└┘├┤┬┴┼─\s]/g, '')).toBe(
      `namedetaillocal${cell.replace(/\s/g, '')}`,
    );
    expect(Math.max(...narrow.split('\n').map((l) => stringWidth(l)))).toBeLessThanOrEqual(24);
    expect(narrow.split('\n').length).toBeGreaterThan(5);
  });

  it('not a terminal: as wide as the text (one line per run, nothing left out)', async () => {
    const pipe = terminal(undefined);
    expect(await main(['runs', '--dir', dir], pipe)).toBe(0);
    const text = pipe.lines().join('\n');
    for (const id of runIds) expect(text).toContain(id);
    expect(text).not.toContain('not shown');
    expect(widest(pipe.lines())).toBeGreaterThan(120);
  });

  it('table() and wrapText(): words wrap at spaces, a word longer than a line breaks', () => {
    expect(wrapText('2026-11-23 07:39:10', 10)).toBe('2026-11-23\n07:39:10');
    expect(wrapText('01a20758-3481-7e99-9ff3-0929f2392328', 18)).toBe(
      '01a20758-3481-7e99\n-9ff3-0929f2392328',
    );
    const out = table(['name', 'detail', 'n'], [['opentelemetry', 'x'.repeat(100), 1]], {
      width: 40,
    });
    expect(widest(out.split('\n'))).toBeLessThanOrEqual(40);
    expect(out.replace(/[│\s]/g, '')).toContain('opentelemetry');
    // Too narrow for every column: the optional ones go, and are named.
    const dropped = table(['id', 'a long header', 'another one'], [['x', 'y', 'z']], {
      width: 20,
      optional: [2],
    });
    expect(dropped.replace(/\s+/g, ' ')).toContain('not shown, to fit the terminal: another one');
    expect(widest(dropped.split('\n'))).toBeLessThanOrEqual(20);
  });
});
