/**
 * DESIGN.md section 3: a sink's own `status()` detail never contains a secret — nor its
 * counters' last error or its `check()`: not the `user:password@` of the tracking URI (fetch
 * quotes the whole URL when it refuses it), not the token or password a server echoes back in
 * its error. No MLflow needed: a tiny local server that answers with the credentials.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEchoServer } from '../../otel-common/test/echo-server.js';
import { MlflowSink } from '../src/index.js';

const TOKEN = 'ML-TOKEN-SECRET-77';
const PASSWORD = 'ML-PASS-SECRET-42';

function run(sink: MlflowSink, id: string): void {
  sink.onRunStart(id, { task: 't', environment: 'e', params: {} });
  sink.onStep(id, {
    event: { step: 1, action: { action: 'code' }, observation: { success: true }, reward: 1 },
    cumulativeReward: 1,
  });
  sink.onRunEnd(id, { result: { completed: true, steps: 1, totalReward: 1 } });
}

async function shown(sink: MlflowSink): Promise<string> {
  return [sink.status(), sink.stats(), await sink.check()].map((x) => JSON.stringify(x)).join('\n');
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain('SECRET');
}

async function flushError(sink: MlflowSink): Promise<string> {
  return sink.forceFlush().then(
    () => '',
    (error: Error) => error.message,
  );
}

describe('the mlflow sink never shows its credentials', () => {
  let echo: EchoServer | undefined;
  afterAll(async () => {
    await echo?.close();
  });

  it('a tracking URI with credentials', async () => {
    echo = await startEchoServer();
    const sink = new MlflowSink({
      trackingUri: echo.urlWithCredentials('mluser', PASSWORD),
      maxRetries: 0,
      timeoutMs: 2000,
    });
    await sink.ready;
    expect(sink.status().available).toBe(false);
    // The URL's credentials go as Basic auth (fetch refuses a URL that has them), and the
    // backend's echo of that header is masked too.
    const basic = Buffer.from(`mluser:${PASSWORD}`).toString('base64');
    expect(echo.headers.some((h) => h.authorization === `Basic ${basic}`)).toBe(true);
    expect(await shown(sink)).not.toContain(basic);
    expectNoSecret(await shown(sink));
    run(sink, 'run-creds');
    const error = await flushError(sink);
    expect(error).not.toBe('');
    expectNoSecret(error);
    expect(sink.stats().failed).toBeGreaterThan(0);
    expectNoSecret(await shown(sink));
    await sink.shutdown().catch(() => undefined);
  });

  it('a server that echoes the bearer token in a 500', async () => {
    echo ??= await startEchoServer();
    echo.status = 500;
    const sink = new MlflowSink({
      trackingUri: echo.url,
      token: TOKEN,
      maxRetries: 0,
      timeoutMs: 2000,
    });
    await sink.ready;
    expect(echo.headers.some((h) => h.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const status = sink.status();
    expect(status.available).toBe(false);
    expect(status.detail).toContain('INTERNAL_ERROR');
    expectNoSecret(await shown(sink));
    run(sink, 'run-echo');
    const error = await flushError(sink);
    expect(error).not.toBe('');
    expectNoSecret(error);
    const stats = sink.stats();
    expect(stats.failed).toBeGreaterThan(0);
    expect(typeof stats.last_error).toBe('string');
    expectNoSecret(await shown(sink));
    await sink.shutdown().catch(() => undefined);
  });

  it('a server that echoes the password in a 401', async () => {
    echo ??= await startEchoServer();
    echo.status = 401;
    const sink = new MlflowSink({
      trackingUri: echo.url,
      username: 'mluser',
      password: PASSWORD,
      maxRetries: 0,
      timeoutMs: 2000,
    });
    await sink.ready;
    const basic = Buffer.from(`mluser:${PASSWORD}`).toString('base64');
    expect(echo.headers.some((h) => h.authorization === `Basic ${basic}`)).toBe(true);
    const text = await shown(sink);
    expectNoSecret(text);
    expect(text).not.toContain(basic);
    await sink.shutdown().catch(() => undefined);
  });
});
