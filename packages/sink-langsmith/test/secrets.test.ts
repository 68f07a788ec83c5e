/**
 * DESIGN.md section 3: a sink's own `status()` detail never contains a secret — nor its
 * counters' last error or its `check()`: not the `user:password@` of the API URL (fetch
 * quotes the whole URL when it refuses it), not the API key a backend echoes back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEchoServer } from '../../otel-common/test/echo-server.js';
import { LangSmithSink } from '../src/index.js';

const API_KEY = 'lsv2-LS-SECRET-22';
const PASSWORD = 'URLPASS-SECRET-31';

function run(sink: LangSmithSink, id: string): void {
  sink.onRunStart(id, { task: 't', environment: 'e', params: {} });
  sink.onStep(id, {
    event: { step: 1, action: { action: 'code' }, observation: { success: true }, reward: 1 },
    cumulativeReward: 1,
  });
  sink.onRunEnd(id, { result: { completed: true, steps: 1, totalReward: 1 } });
}

async function shown(sink: LangSmithSink): Promise<string> {
  return [sink.status(), sink.stats(), await sink.check()].map((x) => JSON.stringify(x)).join('\n');
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(API_KEY);
  expect(text).not.toContain('LS-SECRET');
  expect(text).not.toContain(PASSWORD);
}

describe('the langsmith sink never shows its API key or URL credentials', () => {
  let echo: EchoServer | undefined;
  afterAll(async () => {
    await echo?.close();
  });

  it('an API URL with credentials: the connection check fails without quoting them', async () => {
    echo = await startEchoServer();
    const sink = new LangSmithSink({
      apiKey: API_KEY,
      apiUrl: echo.urlWithCredentials('produser', PASSWORD),
      maxRetries: 0,
      timeoutMs: 3000,
    });
    await sink.ready;
    const status = sink.status();
    expect(status.available).toBe(false);
    expect(status.detail).toMatch(/^unavailable: cannot reach/);
    expectNoSecret(await shown(sink));
    run(sink, 'run-creds');
    const flushError = await sink.forceFlush().then(
      () => '',
      (error: Error) => error.message,
    );
    expect(flushError).not.toBe('');
    expectNoSecret(flushError);
    expectNoSecret(await shown(sink));
    await sink.shutdown().catch(() => undefined);
  });

  it('a backend that echoes the API key in its errors', async () => {
    echo ??= await startEchoServer();
    const sink = new LangSmithSink({
      apiKey: API_KEY,
      apiUrl: echo.url,
      maxRetries: 0,
      timeoutMs: 3000,
    });
    await sink.ready;
    expect(echo.headers.some((h) => h['x-api-key'] === API_KEY)).toBe(true);
    expect(sink.status().available).toBe(false);
    expectNoSecret(await shown(sink));
    run(sink, 'run-echo');
    const flushError = await sink.forceFlush().then(
      () => '',
      (error: Error) => error.message,
    );
    expect(flushError).not.toBe('');
    expectNoSecret(flushError);
    const stats = sink.stats();
    expect(stats.failed_requests).toBeGreaterThan(0);
    expect(typeof stats.last_error).toBe('string');
    expectNoSecret(await shown(sink));
    await sink.shutdown().catch(() => undefined);
  });
});
