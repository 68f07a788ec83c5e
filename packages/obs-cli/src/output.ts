/**
 * Terminal output: colours only on a TTY and never with NO_COLOR (picocolors decides), tables
 * that fit (cli-table3), and `--json` for scripts.
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import stringWidth from 'string-width';

export type Colors = ReturnType<typeof pc.createColors>;

/** Where a command writes. Tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  colors: Colors;
  /** stdout is a terminal (progress bars, live output). */
  isTTY: boolean;
  /** The terminal's width in columns when stdout is one; tables are fitted to it. */
  columns?: number;
}

/** The process's stdout/stderr. */
export function processIo(env: NodeJS.ProcessEnv = process.env): Io {
  const isTTY = Boolean(process.stdout.isTTY);
  const enabled = isTTY && !('NO_COLOR' in env) && env.TERM !== 'dumb';
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    colors: pc.createColors(enabled),
    isTTY,
    ...(isTTY && process.stdout.columns > 0 ? { columns: process.stdout.columns } : {}),
  };
}

/** How a table fits a terminal. */
export interface TableLayout {
  /** The terminal's width ({@link Io.columns}); without it the columns are as wide as their text. */
  width?: number | undefined;
  /**
   * The narrowest each column gets (its text wraps) while `optional` columns can still be
   * left out, by column; default 8 or the column's own width when narrower. Never below the
   * header's longest word.
   */
  min?: Array<number | undefined>;
  /**
   * The narrowest each column gets once no optional column is left to leave out (the last
   * resort before the table is wider than the terminal), by column; default the header's
   * longest word. `Infinity`: never narrower than its text (a sink name stays whole).
   */
  floor?: Array<number | undefined>;
  /**
   * Columns (indexes) left out, first first, when the table cannot fit the width otherwise;
   * a line after the table names them.
   */
  optional?: number[];
}

/** Grapheme clusters: an emoji with its modifiers, a letter with its accents, is one. */
const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The width of text as a terminal shows it, in cells: colour codes take none, wide characters
 * (CJK, most emoji) two — as cli-table3 measures it (the same `string-width`).
 */
function visibleWidth(text: string): number {
  return Math.max(0, ...text.split('\n').map((l) => stringWidth(l)));
}

/**
 * The first piece of `pieces` (grapheme clusters) that fits `width` cells, and the rest; at
 * least one piece, so a wide character in a one-cell column still moves on.
 */
function takeCells(pieces: string[], width: number): [string, string[]] {
  let used = 0;
  let n = 0;
  while (n < pieces.length) {
    const w = stringWidth(pieces[n]!);
    if (n > 0 && used + w > width) break;
    if (n === 0 && w > width) {
      n = 1;
      break;
    }
    used += w;
    n++;
  }
  return [pieces.slice(0, n).join(''), pieces.slice(n)];
}

/**
 * Text wrapped to `width` terminal cells: at spaces, and a word longer than a line (a run id,
 * a path) broken where the line ends (never inside a character or an emoji). Coloured text is
 * left as it is (cells we colour are short).
 */
export function wrapText(text: string, width: number): string {
  if (width < 1 || visibleWidth(text) <= width || text.includes('\u001b')) return text;
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    let lineWidth = 0;
    for (const word of paragraph.split(' ')) {
      const wordWidth = stringWidth(word);
      const room = line === '' ? width : width - lineWidth - 1;
      if (wordWidth <= room) {
        lineWidth = line === '' ? wordWidth : lineWidth + 1 + wordWidth;
        line = line === '' ? word : `${line} ${word}`;
        continue;
      }
      let rest = Array.from(GRAPHEMES.segment(word), (g) => g.segment);
      if (line !== '') {
        // A long word starts where the line has room for a useful piece, else on a new line.
        if (wordWidth > width && room >= 4) {
          const [head, tail] = takeCells(rest, room);
          lines.push(`${line} ${head}`);
          rest = tail;
        } else lines.push(line);
        line = '';
      }
      while (stringWidth(rest.join('')) > width) {
        const [head, tail] = takeCells(rest, width);
        lines.push(head);
        rest = tail;
      }
      line = rest.join('');
      lineWidth = stringWidth(line);
    }
    lines.push(line);
  }
  return lines.join('\n');
}

/** Column widths (text only) that fit `available`, or `undefined` when the minimums do not. */
function fitWidths(natural: number[], min: number[], available: number): number[] | undefined {
  if (min.reduce((a, b) => a + b, 0) > available) return undefined;
  const widths = [...natural];
  let total = widths.reduce((a, b) => a + b, 0);
  // Narrow the widest column that may still narrow, one column of text at a time.
  while (total > available) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++)
      if (widths[i]! > min[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    if (widest < 0) break;
    widths[widest]!--;
    total--;
  }
  return widths;
}

/**
 * A table without colour codes of its own (we colour cells ourselves, or not at all). With a
 * `layout.width` (a terminal) it fits that width: long cells wrap, the widest columns narrow
 * first, and where even that is not enough the `optional` columns are left out and named.
 */
export function table(
  head: string[],
  rows: Array<Array<string | number>>,
  layout: TableLayout = {},
): string {
  const cells = rows.map((row) => row.map((cell) => String(cell)));
  let columns = head.map((_, i) => i);
  let widths: number[] | undefined;
  const hidden: string[] = [];
  const width = layout.width;
  if (width !== undefined && width > 0) {
    const optional = [...(layout.optional ?? [])];
    for (;;) {
      const natural = columns.map((c) =>
        Math.max(visibleWidth(head[c]!), ...cells.map((row) => visibleWidth(row[c] ?? ''))),
      );
      const floor = columns.map((c, i) => {
        const headerWord = Math.max(...head[c]!.split(' ').map((w) => stringWidth(w)));
        return Math.max(headerWord, Math.min(natural[i]!, layout.floor?.[c] ?? 0));
      });
      const min = columns.map((c, i) =>
        Math.max(floor[i]!, Math.min(natural[i]!, layout.min?.[c] ?? 8)),
      );
      // Each column has a space either side and a border after it, plus the first border.
      const available = width - 1 - columns.length * 3;
      widths = fitWidths(natural, min, available);
      if (widths !== undefined) break;
      if (optional.length === 0) {
        // No column left to leave out: narrower than the minimums, down to the floors — and
        // where even they do not fit, as narrow as they allow (wider than the terminal).
        widths = fitWidths(natural, floor, available) ?? floor;
        break;
      }
      const drop = optional.shift()!;
      if (columns.includes(drop) && columns.length > 1) {
        columns = columns.filter((c) => c !== drop);
        hidden.push(head[drop]!);
      }
    }
  }
  const t = new Table({
    head: columns.map((c, i) => (widths ? wrapText(head[c]!, widths[i]!) : head[c]!)),
    style: { head: [], border: [], compact: true },
    wordWrap: true,
    ...(widths ? { colWidths: widths.map((w) => w + 2) } : {}),
  });
  for (const row of cells)
    t.push(columns.map((c, i) => (widths ? wrapText(row[c] ?? '', widths[i]!) : (row[c] ?? ''))));
  const text = t.toString();
  if (hidden.length === 0) return text;
  const note = `(not shown, to fit the terminal: ${hidden.join(', ')}; --json has every column)`;
  return `${text}\n${wrapText(note, width ?? 0)}`;
}

/** `1.2s`, `340ms`, `2m 05s`, `-` when unknown. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
}

/** Local time `YYYY-MM-DD HH:MM:SS`, or `-`. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '-';
  const d = new Date(t);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A number with at most `digits` decimals, or `-`. */
export function formatNumber(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

/** US dollars, or `-`. */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd) || usd === 0) return '-';
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

// C0 controls, DEL and C1 controls: a terminal acts on them (ESC starts a sequence that can
// recolour or rewrite the screen, CSI is ESC [ in one byte), so text from records never
// reaches it raw.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One control character as a visible escape: `\n`, `\r`, `\t`, else `\xHH`. */
function escapeControl(ch: string): string {
  return NAMED[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/**
 * Text from records (run ids, tasks, agent output, paths) as a terminal can show it: C0 and
 * C1 control characters and DEL become visible escapes (`\x1b`, `\n`), so an agent's output
 * cannot recolour or rewrite the terminal. Not for `--json` output, which stays exact.
 */
export function printable(text: unknown): string {
  return String(text ?? '').replace(CONTROL, escapeControl);
}

/** Whitespace runs as one space, trimmed, cut to `max` characters (no escaping). */
export function squash(text: unknown, max = 80): string {
  const s = String(text ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Text with control characters as visible escapes, cut to `max` characters (an escape is never cut in half). */
function printableCut(text: string, max: number): string {
  const pieces: string[] = [];
  let length = 0;
  for (const ch of text) {
    const shown = ch.length === 1 && ch.replace(CONTROL, '') === '' ? escapeControl(ch) : ch;
    if (length + shown.length > max) {
      // Room for the ellipsis: drop whole characters (an escape is one) from the end.
      while (length > max - 1 && pieces.length > 0) length -= pieces.pop()!.length;
      return `${pieces.join('')}…`;
    }
    pieces.push(shown);
    length += shown.length;
  }
  return pieces.join('');
}

/**
 * A single line, cut to `max` characters, with control characters as visible escapes
 * ({@link printable}); an escape is never cut in half. Whitespace runs become one space, so
 * this is for compact views, not for code (see {@link textLines}).
 */
export function oneLine(text: unknown, max = 80): string {
  return printableCut(
    String(text ?? '')
      .replace(/\s+/g, ' ')
      .trim(),
    max,
  );
}

/**
 * Multi-line text (code, program output) as the lines a terminal shows, keeping its line
 * breaks and indentation: each line with its control characters (a tab, a lone `\r`, ESC) as
 * visible escapes, cut to `maxLineLength`; at most `maxLines` lines, then a line saying how
 * many more there are. A final line break adds no empty line.
 */
export function textLines(text: unknown, maxLines = 200, maxLineLength = 1000): string[] {
  const lines = String(text ?? '').split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const shown = lines.slice(0, maxLines).map((line) => printableCut(line, maxLineLength));
  if (lines.length > maxLines)
    shown.push(
      `… ${lines.length - maxLines} more line${lines.length - maxLines === 1 ? '' : 's'} (--json has them all)`,
    );
  return shown;
}

/**
 * A number for display: whole numbers as they are, others with up to 6 significant digits
 * and no trailing zeros (`0.9700000000000002` → `0.97`); anything else as one line.
 */
export function formatValue(value: unknown, max = 30): string {
  if (typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value))
    return String(Number(value.toPrecision(6)));
  return oneLine(value, max);
}

/**
 * A score's (or an attribute's) value for display: a number as {@link formatValue} shows it
 * (up to 6 significant digits: `1.23e-7`, not `0`), anything else as JSON (`"good"`, `true`).
 */
export function formatScoreValue(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value)
    ? formatValue(value)
    : (JSON.stringify(value ?? null) ?? 'null');
}

/** Prints a value as JSON for scripts. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
