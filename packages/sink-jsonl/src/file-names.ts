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
