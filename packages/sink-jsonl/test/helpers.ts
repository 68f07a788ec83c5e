import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect } from 'vitest';

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(prefix = 'rlm-obs-jsonl-'): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Coordinator options for tests: no exit flush, no warnings on stderr. */
export const quiet = { flushOnExit: false, logger: false } as const;

/**
 * A `dir()` that makes a fresh temporary directory per call; all of them are removed after
 * each test. Call once at the top level of a test file.
 */
export function useTempDirs(): () => string {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    while (cleanups.length) cleanups.pop()!();
  });
  return () => {
    const t = tempDir();
    cleanups.push(t.remove);
    return t.dir;
  };
}

/** Every file under a directory, relative paths. */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(path.relative(root, full));
    }
  };
  walk(root);
  return out.sort();
}

/** Parses every line of a JSONL file; fails the test on an invalid line. */
export function readLines(file: string): Record<string, any>[] {
  const text = fs.readFileSync(file, 'utf8');
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}
