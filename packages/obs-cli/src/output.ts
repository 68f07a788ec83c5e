/**
 * Terminal output: colours only on a TTY and never with NO_COLOR (picocolors decides), tables
 * that fit (cli-table3), and `--json` for scripts.
 */
import Table from 'cli-table3';
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

/** Where a command writes. Tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  colors: Colors;
  /** stdout is a terminal (progress bars, live output). */
  isTTY: boolean;
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
  };
}

/** A table without colour codes of its own (we colour cells ourselves, or not at all). */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const t = new Table({ head, style: { head: [], border: [], compact: true }, wordWrap: true });
  for (const row of rows) t.push(row.map((cell) => String(cell)));
  return t.toString();
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

/**
 * A single line, cut to `max` characters, with control characters as visible escapes
 * ({@link printable}); an escape is never cut in half.
 */
export function oneLine(text: unknown, max = 80): string {
  const s = String(text ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  const pieces: string[] = [];
  let length = 0;
  for (const ch of s) {
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

/** Prints a value as JSON for scripts. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
