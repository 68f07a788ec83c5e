/**
 * DESIGN.md section 3: a sink's own `status()` detail never contains a secret — nor its
 * counters' last error or its `check()`: not the `user:password@` of the base URL (fetch
 * quotes the whole URL when it refuses it), not the keys a backend echoes back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEchoServer } from '../../otel-common/test/echo-server.js';
import { LangfuseSink } from '../src/index.js';

const PUBLIC_KEY = 'pk-lf-public';
const SECRET_KEY = 'sk-lf-LF-SECRET-11';
const BASIC = Buffer.from(`${PUBLIC_KEY}:${SECRET_KEY}`).toString('base64');
const PASSWORD = 'URLPASS-SECRET-31';

function run(sink: LangfuseSink, id: string): void {
  sink.onRunStart(id, { task: 't', environment: 'e', params: {} });
  sink.onStep(id, {
    event: { step: 1, action: { action: 'code' }, observation: { success: true }, reward: 1 },
    cumulativeReward: 1,
  });
  sink.onRunEnd(id, { result: { completed: true, steps: 1, totalReward: 1 } });
}

async function shown(sink: LangfuseSink): Promise<string> {
  return [sink.status(), sink.stats(), await sink.check()].map((x) => JSON.stringify(x)).join('\n');
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(SECRET_KEY);
  expect(text).not.toContain('LF-SECRET');
  expect(text).not.toContain(BASIC);
  expect(text).not.toContain(PASSWORD);
}

describe('the langfuse sink never shows its keys or URL credentials', () => {
  let echo: EchoServer | undefined;
  afterAll(async () => {
    await echo?.close();
  });

  it('a base URL with credentials: the key check fails without quoting them', async () => {
    echo = await startEchoServer();
    const sink = new LangfuseSink({
      publicKey: PUBLIC_KEY,
      secretKey: SECRET_KEY,
      baseUrl: echo.urlWithCredentials('produser', PASSWORD),
      timeoutSeconds: 3,
    });
    await sink.ready;
    const status = sink.status();
    expect(status.available).toBe(false);
    expect(status.detail).toMatch(/^unavailable: cannot reach/);
    expectNoSecret(await shown(sink));
    await sink.shutdown().catch(() => undefined);
  });

  it('a backend that echoes the keys in its errors', async () => {
    echo ??= await startEchoServer();
    const sink = new LangfuseSink({
      publicKey: PUBLIC_KEY,
      secretKey: SECRET_KEY,
      baseUrl: echo.url,
      timeoutSeconds: 3,
      flushIntervalSeconds: 0.05,
    });
    await sink.ready;
    run(sink, 'run-echo');
    sink.onScore('run-echo', {
      name: 'quality',
      value: 1,
      kind: 'score',
      at: new Date().toISOString(),
    });
    const flushError = await sink.forceFlush().then(
      () => '',
      (error: Error) => error.message,
    );
    expect(flushError).not.toBe('');
    expectNoSecret(flushError);
    expect(echo.headers.some((h) => h.authorization === `Basic ${BASIC}`)).toBe(true);
    const stats = sink.stats();
    expect(stats.spans_failed).toBeGreaterThan(0);
    expect(typeof stats.last_error).toBe('string');
    expectNoSecret(await shown(sink));
    await sink.shutdown().catch(() => undefined);
  });
});
