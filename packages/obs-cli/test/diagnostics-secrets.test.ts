/**
 * No secret in what the CLI prints (status, doctor, config errors), whoever echoes it: a
 * backend answering with the key it was sent, a sink factory failing with its URL, a sink in
 * the worker thread, a config with `redact: false`. The built binary, as in cli.test.ts.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rlmObs, tempDir } from './cli-helpers.js';

/** A backend that answers 500 with the credentials it was sent (some do, in their error text). */
let server: http.Server;
let backend: string;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(
        `rejected key ${req.headers['x-api-key'] ?? ''} for team ${req.headers['x-team'] ?? ''}`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => {
  server.close();
});

/** A sink whose status and check() say what its backend answered. */
const ECHO_SINK = `export async function createSink(options) {
  const name = options.name ?? 'echo';
  async function probe() {
    try {
      const res = await fetch(options.url, {
        headers: { 'x-api-key': options.apiKey ?? '', 'x-team': options.headers?.['x-team'] ?? '' },
      });
      return 'backend answered ' + res.status + ': ' + (await res.text());
    } catch (error) {
      return 'cannot reach ' + options.url + ': ' + error.message;
    }
  }
  const detail = await probe();
  return {
    name,
    status: () => ({ name, enabled: true, available: false, detail }),
    check: async () => ({ ok: false, problems: [{ problem: await probe(), fix: 'check the key' }] }),
    onRunStart() {}, onStep() {}, onRunEnd() {},
  };
}`;

/** A sink that checks its webhook at creation (fetch refuses a URL with credentials). */
const HOOK_SINK = `export async function createSink(options) {
  await fetch(options.url, { method: 'HEAD' });
  return { name: 'webhook', status: () => ({ name: 'webhook', enabled: true, available: true, detail: 'ok' }), onRunStart() {}, onStep() {}, onRunEnd() {} };
}`;

/** A sink that reports its header back in its status (as a gRPC exporter's error does). */
const HEADER_SINK = `export function createSink(options) {
  const key = options.headers['x-api-key'];
  return {
    name: 'header-echo',
    status: () => ({ name: 'header-echo', enabled: true, available: false, detail: 'metadata value ' + JSON.stringify(key) + ' has illegal characters: ' + key }),
    onRunStart() {}, onStep() {}, onRunEnd() {},
  };
}`;

function project(files: Record<string, string>, config: unknown) {
  const t = tempDir();
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(t.dir, name), text);
  fs.writeFileSync(path.join(t.dir, 'rlm-obs.config.json'), JSON.stringify(config));
  return t;
}

describe('no secret in CLI output', () => {
  it('A: secrets given as sink options (a key, a header) are scrubbed from status and doctor, also when the backend echoes them', async () => {
    const key = 'ek-echo-KEY-SECRET-4711';
    const team = 'team-HEADER-SECRET-0815';
    const t = project(
      { 'echo-sink.mjs': ECHO_SINK },
      {
        sinks: [
          [
            './echo-sink.mjs',
            { apiKey: '${ECHO_KEY}', headers: { 'x-team': '${ECHO_TEAM}' }, url: backend },
          ],
        ],
      },
    );
    try {
      // Variable names that do not look secret: only the options say these are secrets.
      const env = { ECHO_KEY: key, ECHO_TEAM: team };
      const status = await rlmObs(['status', '--json'], { cwd: t.dir, env });
      expect(status.code, status.stderr).toBe(0);
      const detail = JSON.parse(status.stdout).sinks[0].detail as string;
      expect(detail).toContain('backend answered 500: rejected key [REDACTED] for team [REDACTED]');
      const doctor = await rlmObs(['doctor'], { cwd: t.dir, env });
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toContain('rejected key [REDACTED]');
      const doctorJson = await rlmObs(['doctor', '--json'], { cwd: t.dir, env });
      for (const out of [status, doctor, doctorJson]) {
        expect(out.stdout + out.stderr).not.toContain(key);
        expect(out.stdout + out.stderr).not.toContain(team);
      }
    } finally {
      t.remove();
    }
  });

  it('B: a config error quoting a URL with credentials is scrubbed, in the thread and from the worker', async () => {
    const password = 'HOOK-PASS-SECRET-9182';
    const env = { HOOK_URL: `http://hookuser:${password}@127.0.0.1:9/hook` };
    for (const worker of [false, true]) {
      const t = project(
        { 'webhook.mjs': HOOK_SINK },
        {
          worker,
          sinks: [{ use: './webhook.mjs', options: { url: '${HOOK_URL}' } }],
        },
      );
      try {
        for (const command of ['status', 'doctor']) {
          const out = await rlmObs([command, '--json'], { cwd: t.dir, env });
          expect(out.code, `${command} worker=${worker}`).toBe(2);
          expect(out.stderr).toMatch(
            /config error: sink '\.\/webhook\.mjs' could not be created: .*http:\/\/\[REDACTED\]@127\.0\.0\.1:9\/hook/,
          );
          expect(out.stdout + out.stderr, `${command} worker=${worker}`).not.toContain(password);
        }
      } finally {
        t.remove();
      }
    }
  });

  it('C: a header secret with a character JSON escapes is scrubbed from a worker sink’s status', async () => {
    const t = project(
      { 'header-sink.mjs': HEADER_SINK },
      {
        worker: true,
        sinks: [['./header-sink.mjs', { headers: { 'x-api-key': 'sk-live-OTLP-SECRET-999\r' } }]],
      },
    );
    try {
      const out = await rlmObs(['status', '--json'], { cwd: t.dir });
      expect(out.code, out.stderr).toBe(0);
      const sink = JSON.parse(out.stdout).sinks[0];
      expect(sink).toMatchObject({ name: 'header-echo', thread: 'worker' });
      expect(sink.detail).toContain('[REDACTED]');
      expect(out.stdout + out.stderr).not.toContain('sk-live-OTLP-SECRET-999');
    } finally {
      t.remove();
    }
  });

  it('D: redact: false keeps the diagnostics scrubbed (URL credentials from an option)', async () => {
    const password = 'ML-PASS-SECRET-42';
    const env = { ML_URI: `http://mluser:${password}@127.0.0.1:9` };
    const t = project(
      { 'echo-sink.mjs': ECHO_SINK },
      {
        redact: false,
        sinks: [['./echo-sink.mjs', { name: 'mlflow-like', url: '${ML_URI}' }]],
      },
    );
    try {
      const status = await rlmObs(['status', '--json'], { cwd: t.dir, env });
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).sinks[0].detail).toMatch(
        /^cannot reach http:\/\/\[REDACTED\]@127\.0\.0\.1:9/,
      );
      const doctor = await rlmObs(['doctor'], { cwd: t.dir, env });
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toContain('✗ mlflow-like');
      for (const out of [status, doctor]) expect(out.stdout + out.stderr).not.toContain(password);
    } finally {
      t.remove();
    }
  });

  it('E: a config value quoting a URL with credentials is scrubbed from every command’s config error (sinks too)', async () => {
    const password = 'hunter2pass-SECRET-77';
    const t = project(
      {},
      { sinks: ['jsonl'], sampling: { rate: `http://bob:${password}@example.com` } },
    );
    try {
      for (const command of ['sinks', 'status', 'runs', 'tail']) {
        for (const json of [false, true]) {
          const out = await rlmObs(json ? [command, '--json'] : [command], { cwd: t.dir });
          expect(out.code, command).toBe(2);
          expect(out.stderr, command).toContain('config error: must be a number from 0 to 1');
          expect(out.stderr, command).toContain('http://[REDACTED]@example.com');
          expect(out.stdout + out.stderr, command).not.toContain(password);
        }
      }
    } finally {
      t.remove();
    }
  });
});
