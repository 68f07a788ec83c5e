import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `rlm-obs` binary in a child process. */
export function rlmObs(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliResult> {
  return new Promise((resolve) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith('DSPY_RLM_') && k !== 'RLM_OBS_JSONL_DIR') env[k] = v;
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: options.cwd, env: { ...env, ...options.env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error
          ? typeof (error as { code?: unknown }).code === 'number'
            ? (error as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Starts the binary and returns it, for `tail -f`. */
export function spawnRlmObs(args: string[], cwd: string) {
  return spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tempDir(): { dir: string; remove: () => void } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-cli-')));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
