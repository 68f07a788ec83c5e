/**
 * File names for run ids. Run ids come from agent code and may be anything: a name that could
 * leave the base directory (`../../x`, `/abs`, NUL, empty, huge) is mapped to a safe slug plus
 * a hash, so no file can ever appear outside the base directory and distinct ids never
 * collide. Plain ids keep the Python layout `steps/<run_id>.jsonl`.
 */
import { createHash } from 'node:crypto';

const PLAIN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Whether a run id is used as its own file name (the Python layout). */
export function isPlainRunId(runId: string): boolean {
  return PLAIN_ID.test(runId) && !runId.includes('..');
}

/**
 * The file name (not a path) of a run's steps file.
 *
 * @example
 * ```ts
 * stepFileName('run-1'); // 'run-1.jsonl'
 * stepFileName('../../x'); // '_x-3f1c…​.jsonl' — always inside steps/
 * ```
 */
export function stepFileName(runId: string): string {
  const id = typeof runId === 'string' ? runId : String(runId);
  if (isPlainRunId(id)) return `${id}.jsonl`;
  const slug = id
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/\.{2,}/g, '_')
    .replace(/^[._-]+/, '')
    .slice(0, 64);
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 16);
  return `${slug ? `${slug}-` : ''}${hash}.h.jsonl`;
}

/**
 * The separator of rotated parts: `steps/<name>~<n>.jsonl`. `~` is never in a name
 * {@link stepFileName} makes (plain ids and slugs use only `A-Za-z0-9._-`), so a rotated part
 * can never be mistaken for another run's steps file.
 */
const PART_SEPARATOR = '~';
const PART_NAME = /^(.+)~([1-9][0-9]{0,8})\.jsonl$/;

/**
 * The file name of part `n` (1, 2, …) of a steps file rotated by `maxStepFileBytes`:
 * `run-1.jsonl` → `run-1~1.jsonl`, `run-1~2.jsonl`, …; the current part stays `run-1.jsonl`.
 *
 * @example
 * ```ts
 * stepPartFileName('run-1', 2); // 'run-1~2.jsonl'
 * ```
 */
export function stepPartFileName(runId: string, part: number): string {
  return partOfFile(stepFileName(runId), part);
}

/** `<name>.jsonl` → `<name>~<part>.jsonl` (a file name, not a path). */
export function partOfFile(fileName: string, part: number): string {
  const base = fileName.endsWith('.jsonl') ? fileName.slice(0, -'.jsonl'.length) : fileName;
  return `${base}${PART_SEPARATOR}${part}.jsonl`;
}

/** For a rotated part's file name: the current file's name and the part number. */
export function parsePartFileName(fileName: string): { file: string; part: number } | undefined {
  const match = PART_NAME.exec(fileName);
  if (!match) return undefined;
  return { file: `${match[1]}.jsonl`, part: Number(match[2]) };
}
