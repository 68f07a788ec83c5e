/**
 * jiti and yaml are optional peers: without them, a TypeScript config, a TypeScript sink
 * module and a YAML config fail with the command that installs them.
 */
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RlmObsConfigError } from '../../src/config/config-error.js';
import { loadObservability } from '../../src/config/load-observability.js';
import { makeProject } from './project.js';

// As if neither were installed.
vi.mock('jiti', () => {
  throw new Error("Cannot find package 'jiti' imported from somewhere");
});
vi.mock('yaml', () => {
  throw new Error("Cannot find package 'yaml' imported from somewhere");
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
const quiet = { overrides: { flushOnExit: false, logger: false as const }, env: {} };

async function loadError(files: Record<string, string>): Promise<RlmObsConfigError> {
  const p = makeProject({ 'pnpm-lock.yaml': '', ...files });
  cleanups.push(p.remove);
  const error = await loadObservability({ ...quiet, cwd: p.dir }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RlmObsConfigError);
  return error as RlmObsConfigError;
}

describe('optional peers that are not installed', () => {
  it('a TypeScript sink module says it needs jiti and how to install it', async () => {
    const error = await loadError({
      'my-sink.ts':
        "export function createSink() { return { name: 'ts', status: () => ({ name: 'ts', enabled: true, available: true, detail: '' }), onRunStart() {}, onStep() {}, onRunEnd() {} }; }",
      'rlm-obs.config.mjs': `export default { sinks: ['./my-sink.ts'] };`,
    });
    expect(error.message).toMatch(
      /^loading a TypeScript sink \('\.\/my-sink\.ts'\) needs jiti: pnpm add -D jiti \(or compile the sink to \.js\)/,
    );
    expect(error.message).not.toContain('Cannot find package');
    expect(error.key).toBe('sinks[0]');
  });

  it('a TypeScript config says it needs jiti', async () => {
    const error = await loadError({ 'rlm-obs.config.ts': 'export default { sinks: [] };' });
    expect(error.message).toMatch(/^loading a TypeScript config needs jiti: pnpm add -D jiti/);
    expect(error.file).toMatch(/rlm-obs\.config\.ts$/);
  });

  it('a YAML config says it needs yaml', async () => {
    const error = await loadError({ 'rlm-obs.config.yaml': 'sinks: []\n' });
    expect(error.message).toMatch(/^loading a YAML config needs yaml: pnpm add -D yaml/);
    expect(path.basename(error.file ?? '')).toBe('rlm-obs.config.yaml');
  });
});
