/** Child processes for the system tests: run a node script, a small pool, grouping. */
import { execFile } from 'node:child_process';

/** How a child process ended. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed by the guard below: it did not end by itself. */
  killed: boolean;
  stdout: string;
  stderr: string;
  /** For reports only; nothing is asserted on it. */
  durationMs: number;
}

/**
 * Runs `node <script> ...args` and resolves with how it ended (never rejects). `hangAfterMs`
 * is only a guard against a process that never ends (it is then killed and reported as
 * `killed`), not a time limit anything is measured against.
 */
export function runNode(
  script: string,
  options: { env: NodeJS.ProcessEnv; cwd: string; args?: string[]; hangAfterMs?: number },
): Promise<ProcessResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [script, ...(options.args ?? [])],
      {
        env: options.env,
        cwd: options.cwd,
        timeout: options.hangAfterMs ?? 120_000,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        resolve({
          code: child.exitCode,
          signal: child.signalCode,
          killed: Boolean(error && (error as { killed?: boolean }).killed),
          stdout: String(stdout),
          stderr: String(stderr),
          durationMs: Math.round(performance.now() - started),
        });
      },
    );
  });
}

/** Runs `fn` over `items`, at most `concurrency` at a time. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Groups values by a key, keeping their order. */
export function groupBy<T>(values: Iterable<T>, key: (value: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const value of values) {
    const k = key(value);
    const group = groups.get(k);
    if (group) group.push(value);
    else groups.set(k, [value]);
  }
  return groups;
}
