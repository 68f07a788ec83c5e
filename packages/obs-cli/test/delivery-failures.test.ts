/**
 * When a remote sink takes the events but cannot export them, `replay` and `demo` say so: the
 * sink's flush error (scrubbed) in the text and in `--json`, the events counted as handed to
 * the sink rather than delivered, and the reward/completed scores the coordinator makes again
 * at each run's end named when they make the count exceed the events. The built binary with
 * the OpenTelemetry sink (linked into the project's node_modules), against a closed port and a
 * backend that answers 401.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { closedPort } from '@rlm/obs-core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, rlmObs, tempDir } from './cli-helpers.js';

const SECRET = 'otlp-bearer-SECRET-5150';
let tmp: ReturnType<typeof tempDir>;
let refusing: http.Server;
let refusingUrl: string;

beforeAll(async () => {
  tmp = tempDir();
  fs.mkdirSync(path.join(tmp.dir, 'node_modules', '@rlm'), { recursive: true });
  fs.symlinkSync(
    path.join(REPO, 'packages', 'sink-otel'),
    path.join(tmp.dir, 'node_modules', '@rlm', 'sink-otel'),
  );
  const demo = await rlmObs(['demo', '--dir', 'obs', '--runs', '2', '--steps', '2'], {
    cwd: tmp.dir,
  });
  expect(demo.code, demo.stderr).toBe(0);
  refusing = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"unauthorized"}');
    });
  });
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  refusingUrl = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
}, 60_000);

afterAll(() => {
  refusing?.close();
  tmp?.remove();
});

const otelEnv = (endpoint: string) => ({
  DSPY_RLM_OTEL_ENABLED: 'true',
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${SECRET}`,
});

describe('replay to a backend that cannot be reached', () => {
  it('text: handed to the sink (not delivered), the export error, the regenerated scores, exit 1', async () => {
    const env = otelEnv(`http://127.0.0.1:${await closedPort()}`);
    const out = await rlmObs(['replay', '--all', '--dir', 'obs', '--to', 'opentelemetry'], {
      cwd: tmp.dir,
      env,
    });
    expect(out.code).toBe(1);
    const summary = out.stdout.split('\n')[0]!;
    expect(summary).toMatch(
      /^replayed \d+ run\(s\) from .* to opentelemetry: (\d+) events, (\d+) handed to the sink \(with the (\d+) reward\/completed scores made again at each run's end\), 0 failed, 0 dropped$/,
    );
    expect(summary).not.toContain('delivered');
    expect(out.stdout).toMatch(
      /\nthe sink could not deliver them: .*could not be exported to http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/,
    );
    expect(out.stdout).toContain('some events were not delivered');
    expect(out.stdout + out.stderr).not.toContain(SECRET);
  }, 120_000);

  it('--json: delivered null, handedToSink, regenerated and the error', async () => {
    const env = otelEnv(`http://127.0.0.1:${await closedPort()}`);
    const out = await rlmObs(
      ['replay', '--all', '--dir', 'obs', '--to', 'opentelemetry', '--json'],
      { cwd: tmp.dir, env },
    );
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout);
    expect(report).toMatchObject({
      to: 'opentelemetry',
      ok: false,
      delivered: null,
      failed: 0,
      error: expect.stringMatching(/could not be exported .*ECONNREFUSED/),
    });
    expect(report.handedToSink).toBe(report.events + report.regenerated);
    expect(report.regenerated).toBeGreaterThan(0);
    expect(out.stdout + out.stderr).not.toContain(SECRET);
  }, 120_000);
});

describe('demo with a sink whose backend refuses the exports (401)', () => {
  it('✗ with the events handed to the sink, not "delivered", and the problem; exit 1', async () => {
    const out = await rlmObs(['demo', '--dir', 'obs-401', '--runs', '1', '--steps', '2'], {
      cwd: tmp.dir,
      env: otelEnv(refusingUrl),
    });
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/✓ local-jsonl: \d+ events delivered, 0 failed, 0 dropped/);
    expect(out.stdout).toMatch(
      /✗ opentelemetry: \d+ events handed to the sink, not all delivered, 0 failed, 0 dropped\n +problem: .*could not be exported.*401/,
    );
    expect(out.stdout).not.toMatch(/opentelemetry: \d+ events delivered/);
    expect(out.stdout + out.stderr).not.toContain(SECRET);
    const json = await rlmObs(['demo', '--dir', 'obs-401', '--runs', '1', '--json'], {
      cwd: tmp.dir,
      env: otelEnv(refusingUrl),
    });
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      { sink: 'opentelemetry', problem: expect.stringContaining('401') },
    ]);
    // Each sink's entry is shaped like replay --json's: what a sink whose flush failed took
    // is handed to it, not delivered (null), with its error.
    const otel = report.sinks.find((s: { name: string }) => s.name === 'opentelemetry');
    expect(otel).toMatchObject({
      enabled: true,
      ok: false,
      delivered: null,
      failed: 0,
      error: expect.stringContaining('401'),
    });
    expect(otel.handedToSink).toBeGreaterThan(0);
    const local = report.sinks.find((s: { name: string }) => s.name === 'local-jsonl');
    expect(local).toMatchObject({ enabled: true, ok: true, failed: 0 });
    expect(local.delivered).toBeGreaterThan(0);
    expect(local.delivered).toBe(local.handedToSink);
    expect(local).not.toHaveProperty('error');
    expect(json.stdout + json.stderr).not.toContain(SECRET);
  }, 120_000);
});
