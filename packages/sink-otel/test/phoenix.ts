/**
 * A real Arize Phoenix for end-to-end tests: started from the venv that
 * scripts/setup-phoenix.sh installs (CI runs it first and sets RLM_OBS_PHOENIX), on free
 * loopback ports, with its data in a temporary directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closedPort } from '@rlm/obs-core/testing';

/** The `phoenix` command, if installed. */
export function phoenixCommand(): string | undefined {
  const candidates = [
    process.env.RLM_OBS_PHOENIX,
    path.join(
      os.homedir(),
      '.cache',
      'rlm-obs',
      `phoenix-${process.env.PHOENIX_VERSION ?? '20.26.1'}`,
      'bin',
      'phoenix',
    ),
  ];
  return candidates.find((c): c is string => Boolean(c) && fs.existsSync(c!));
}

/** A running Phoenix. */
export interface Phoenix {
  httpUrl: string;
  grpcUrl: string;
  /** Spans of a project, as Phoenix's REST API gives them. */
  spans(project: string): Promise<PhoenixSpan[]>;
  stop(): Promise<void>;
}

export interface PhoenixSpan {
  name: string;
  context: { trace_id: string; span_id: string };
  parent_id: string | null;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  status_code: string;
}

export async function startPhoenix(command: string): Promise<Phoenix> {
  const port = await closedPort();
  const grpcPort = await closedPort();
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-phoenix-'));
  const child: ChildProcess = spawn(command, ['serve'], {
    env: {
      ...process.env,
      PHOENIX_HOST: '127.0.0.1',
      PHOENIX_PORT: String(port),
      PHOENIX_GRPC_PORT: String(grpcPort),
      PHOENIX_WORKING_DIR: workdir,
      PHOENIX_TELEMETRY_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`phoenix exited (${child.exitCode}):\n${log.slice(-2000)}`);
    try {
      const response = await fetch(`${httpUrl}/v1/projects`);
      if (response.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline)
      throw new Error(`phoenix did not start in 120 s:\n${log.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return {
    httpUrl,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    async spans(project) {
      const response = await fetch(
        `${httpUrl}/v1/projects/${encodeURIComponent(project)}/spans?limit=1000`,
      );
      if (!response.ok) return [];
      return ((await response.json()) as { data: PhoenixSpan[] }).data;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(undefined);
        }, 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
      fs.rmSync(workdir, { recursive: true, force: true });
    },
  };
}
