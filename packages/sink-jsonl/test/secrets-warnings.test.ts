/**
 * Secrets in params, attributes and URLs never appear in files, status or warnings — on the
 * paths that DO warn: a sink whose errors carry credentials (its endpoint URL, an API key it
 * was handed, a bearer token), a flush and a shutdown that fail with such text, a run id with
 * URL credentials used after its end, events after shutdown, a jsonl directory that cannot
 * be written whose path carries credentials, and a rejected config.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadObservability,
  RLMObservability,
  type RLMObservabilitySink,
  type SinkStatus,
} from '@rlm/obs-core';
import { describe, expect, it } from 'vitest';
import { createJsonlSink } from '../src/index.js';
import { listFiles, useTempDirs } from './helpers.js';

const dir = useTempDirs();
/** The CLI's directory: the config loader finds `jsonl` (the built dist/) from there. */
const CLI_DIR = fileURLToPath(new URL('../../obs-cli/', import.meta.url));

const SECRETS = [
  'TopSecret99',
  'tok-abc-123',
  'sk-proj-SECRETSECRET',
  'pw-hunter2',
  'dXNlcjpwYXNzd29yZA',
  'ghp_TOKEN0123456789',
];
const ENDPOINT = 'https://user:TopSecret99@collector.example.com/v1/ingest?token=tok-abc-123';

/**
 * A remote-style sink whose every failure echoes what a careless backend client would: its
 * endpoint with credentials, the API key and the bearer token it sent, an `Error` or a bare
 * string.
 */
function echoingSink(): RLMObservabilitySink {
  const fail = (what: string): never => {
    throw new Error(
      `${what}: POST ${ENDPOINT} -> 401 Incorrect API key provided: sk-proj-SECRETSECRET (Authorization: Bearer ghp_TOKEN0123456789)`,
    );
  };
  return {
    name: 'echo',
    status: (): SinkStatus => ({
      name: 'echo',
      enabled: true,
      available: false,
      detail: `exporting to ${ENDPOINT}`,
      last_error: 'db password pw-hunter2 rejected',
    }),
    onRunStart: () => fail('start'),
    onStep: () => Promise.reject(new Error(`step: GET ${ENDPOINT} refused for user:TopSecret99`)),
    onRunEnd: () => {
      // A bare string thrown, not an Error.
      throw `end: Basic dXNlcjpwYXNzd29yZA== rejected at ${ENDPOINT}`;
    },
    forceFlush: () => Promise.reject(new Error(`flush: ${ENDPOINT} timed out (pw-hunter2)`)),
    shutdown: () => Promise.reject(new Error(`shutdown: ${ENDPOINT} unreachable`)),
  };
}

/** The password in a run id (checked in warnings, status and reports, not in the files). */
const ID_SECRET = 'RunIdPass42';

function expectNoSecret(label: string, text: string, also: string[] = [ID_SECRET]): void {
  for (const secret of [...SECRETS, ...also])
    expect(text, `${label} shows ${secret}`).not.toContain(secret);
}

describe('secrets on the paths that warn', () => {
  it('never reach the files, the status, the flush reports or any warning', async () => {
    const root = dir();
    const base = path.join(root, 'base');
    // A directory that cannot be made (a file is in the way), whose path carries credentials.
    fs.writeFileSync(path.join(root, 'blocker'), 'x');
    const brokenDir = path.join(root, 'blocker', 'https:', 'user:TopSecret99@example.com');
    const warnings: string[] = [];
    const jsonl = createJsonlSink({ dir: base });
    const broken = createJsonlSink({ dir: brokenDir, name: 'broken-jsonl' });
    const obs = RLMObservability.withSinks([jsonl, broken, echoingSink()], {
      flushOnExit: false,
      logger: { warn: (m) => warnings.push(m) },
    });
    const run = obs.startRun({
      runId: 'secret-run',
      task: `fetch ${ENDPOINT}`,
      params: { openai_api_key: 'sk-proj-SECRETSECRET', db: { password: 'pw-hunter2' } },
      attributes: { authorization: 'Basic dXNlcjpwYXNzd29yZA==' },
    });
    run.step({
      action: {
        action: 'http',
        code: 'requests.get(url, headers={"Authorization": "Bearer ghp_TOKEN0123456789"})',
      },
      observation: { success: false, error: `denied for ${ENDPOINT}` },
      reward: 1,
    });
    run.end();
    // A run whose id carries URL credentials, used after its end: warns with the id. (The id
    // itself is the caller's name for the run and goes to the files as given; the warnings,
    // status and reports must not show its credentials.)
    const leaky = obs.startRun({ runId: `https://bob:${ID_SECRET}@db.example.com/run-7` });
    leaky.end();
    leaky.step({ reward: 1 });
    leaky.end();
    const flushReport = await obs.flush({ timeoutMs: 10_000 });
    const shutdownReport = await obs.shutdown({ timeoutMs: 10_000 });
    // After shutdown: warns too.
    obs.onStep('secret-run', { event: { api_key: 'sk-proj-SECRETSECRET' }, cumulativeReward: 0 });

    // Every path warned: the sink's hook errors, its flush and shutdown, the run id, after
    // shutdown.
    const all = warnings.join('\n');
    expect(all).toMatch(/sink 'echo' onRunStart failed/);
    expect(all).toMatch(/sink 'echo' onStep failed/);
    expect(all).toMatch(/sink 'echo' onRunEnd failed/);
    expect(all).toMatch(/sink 'echo' flush failed/);
    expect(all).toMatch(/sink 'echo' shutdown failed/);
    expect(all).toMatch(/step\(\) after end\(\)/);
    expect(all).toMatch(/after shutdown/);
    expect(warnings.length).toBeGreaterThanOrEqual(7);
    // ... and they still say what went wrong, only without the secrets.
    expect(all).toContain('collector.example.com');
    expect(all).toContain('[REDACTED]');
    for (const [i, warning] of warnings.entries()) expectNoSecret(`warning ${i}`, warning);

    // The broken directory shows in the status (scrubbed), and lost lines are counted.
    const statuses = obs.status();
    const brokenStatus = statuses.find((s) => s.name === 'broken-jsonl')!;
    expect(brokenStatus).toMatchObject({ available: false });
    expect(brokenStatus.detail).toMatch(/^unavailable: /);
    expect(brokenStatus.lines_failed).toBeGreaterThan(0);
    expect(String(brokenStatus.last_error)).toContain('example.com');
    expectNoSecret('status', JSON.stringify(statuses));

    expect(flushReport.ok).toBe(false);
    expect(shutdownReport.ok).toBe(false);
    expectNoSecret('flush report', JSON.stringify(flushReport));
    expectNoSecret('shutdown report', JSON.stringify(shutdownReport));
    expect(shutdownReport.sinks.find((s) => s.name === 'echo')?.error).toContain('[REDACTED]');

    // The files: none of the secrets, but the run is there.
    const files = listFiles(base);
    expect(files).toContain(path.join('steps', 'secret-run.jsonl'));
    const text = files.map((f) => fs.readFileSync(path.join(base, f), 'utf8')).join('\n');
    expect(text).toContain('[REDACTED]');
    expectNoSecret('files', text, []);
    // Nothing was created under the blocked path.
    expect(fs.statSync(path.join(root, 'blocker')).isFile()).toBe(true);
  });

  it('a rejected config names the bad option but never echoes a secret value', async () => {
    const root = dir();
    fs.writeFileSync(
      path.join(root, 'rlm-obs.config.json'),
      JSON.stringify({
        sinks: [
          [
            'jsonl',
            {
              dir: path.join(root, 'obs'),
              maxOpenFiles: 'sk-proj-SECRETSECRET',
              retention: { maxAgeDays: ENDPOINT },
            },
          ],
        ],
      }),
    );
    const warnings: string[] = [];
    const error = await loadObservability({
      cwd: root,
      env: {},
      fallbackDirs: [CLI_DIR],
      overrides: { flushOnExit: false, logger: { warn: (m: string) => warnings.push(m) } },
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/invalid options for sink 'jsonl'/);
    expect(error!.message).toMatch(/maxOpenFiles|maxAgeDays/);
    expectNoSecret('config error', `${error!.message}\n${error!.stack ?? ''}`);
    for (const warning of warnings) expectNoSecret('config warning', warning);
    expect(fs.existsSync(path.join(root, 'obs'))).toBe(false);
  });
});
