/**
 * A real MLflow tracking server for tests: from the venv scripts/setup-mlflow.sh installs (CI
 * runs it and sets RLM_OBS_MLFLOW), on a free loopback port, with a sqlite store and an
 * artifacts directory in a temporary folder. It can be stopped and started again on the same
 * port and store, to test an outage.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closedPort } from '@rlm/obs-core/testing';

export function mlflowCommand(): string | undefined {
  const candidates = [
    process.env.RLM_OBS_MLFLOW,
    path.join(
      os.homedir(),
      '.cache',
      'rlm-obs',
      `mlflow-${process.env.MLFLOW_VERSION ?? '3.17.2'}`,
      'bin',
      'mlflow',
    ),
  ];
  return candidates.find((c): c is string => Boolean(c) && fs.existsSync(c!));
}

export interface MlflowServer {
  url: string;
  dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  remove(): void;
}

export async function createMlflowServer(
  command: string,
  options: {
    /**
     * `false`: `mlflow server --no-serve-artifacts` — runs get a path on the server as their
     * `artifact_uri` and the artifact endpoint answers 503.
     */
    serveArtifacts?: boolean;
  } = {},
): Promise<MlflowServer> {
  const port = await closedPort();
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-mlflow-')));
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let log = '';
  const server: MlflowServer = {
    url,
    dir,
    async start() {
      child = spawn(
        command,
        [
          'server',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--backend-store-uri',
          `sqlite:///${path.join(dir, 'mlflow.db')}`,
          ...(options.serveArtifacts === false
            ? ['--no-serve-artifacts', '--default-artifact-root', path.join(dir, 'mlruns')]
            : ['--artifacts-destination', path.join(dir, 'artifacts')]),
          '--workers',
          '1',
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        },
      );
      child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 120_000;
      for (;;) {
        if (child.exitCode !== null)
          throw new Error(`mlflow exited (${child.exitCode}):\n${log.slice(-2000)}`);
        try {
          const response = await fetch(
            `${url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default`,
          );
          if (response.ok) return;
        } catch {
          // not up yet
        }
        if (Date.now() > deadline)
          throw new Error(`mlflow did not start in 120 s:\n${log.slice(-2000)}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      // The server forks workers: end the whole process group.
      try {
        process.kill(-c.pid!, 'SIGTERM');
      } catch {
        c.kill('SIGTERM');
      }
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          try {
            process.kill(-c.pid!, 'SIGKILL');
          } catch {
            // gone
          }
          resolve(undefined);
        }, 10_000);
        c.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
      // Wait until the port no longer answers.
      for (let i = 0; i < 50; i++) {
        try {
          await fetch(`${url}/health`, { signal: AbortSignal.timeout(200) });
          await new Promise((resolve) => setTimeout(resolve, 100));
        } catch {
          return;
        }
      }
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
