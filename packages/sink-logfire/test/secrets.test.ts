/**
 * DESIGN.md section 3: a sink's own `status()` detail never contains a secret — nor its
 * counters' last error or its `check()`: not the token a backend echoes back, not the
 * `user:password@` of `baseUrl`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEchoServer } from '../../otel-common/test/echo-server.js';
import { LogfireSink } from '../src/index.js';

const TOKEN = 'pylf_v1_us_LOGFIRE-SECRET-33';
const PASSWORD = 'URLPASS-SECRET-31';

function run(sink: LogfireSink, id: string): void {
  sink.onRunStart(id, { task: 't', environment: 'e', params: {} });
  sink.onStep(id, {
    event: { step: 1, action: { action: 'code' }, observation: { success: true }, reward: 1 },
    cumulativeReward: 1,
  });
  sink.onRunEnd(id, { result: { completed: true, steps: 1, totalReward: 1 } });
}

describe('the logfire sink never shows its token or URL credentials', () => {
  let echo: EchoServer | undefined;
  afterAll(async () => {
    await echo?.close();
  });

  it('a backend that echoes the token, at a URL with credentials', async () => {
    echo = await startEchoServer();
    const sink = new LogfireSink({
      token: TOKEN,
      baseUrl: echo.urlWithCredentials('produser', PASSWORD),
      exportTimeoutMs: 3000,
      scheduledDelayMs: 10,
    });
    // check() asks Logfire itself (an empty export): this backend answers 500.
    const before = await sink.check();
    expect(before.ok).toBe(false);
    expect(before.problems[0]!.problem).toMatch(/answered HTTP 500/);
    expect(JSON.stringify(before)).not.toContain(PASSWORD);
    expect(JSON.stringify(before)).not.toContain(TOKEN);
    run(sink, 'run-echo');
    // The hooks run on the next turn of the event loop; check() then exports their spans.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const check = await sink.check();
    expect(check.ok).toBe(false);
    expect(echo.headers.some((h) => h.authorization === TOKEN)).toBe(true);
    const stats = sink.stats();
    expect(stats.spans_failed).toBeGreaterThan(0);
    expect(typeof stats.last_error).toBe('string');
    const text = [sink.status(), stats, check].map((x) => JSON.stringify(x)).join('\n');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('LOGFIRE-SECRET');
    expect(text).not.toContain(PASSWORD);
    run(sink, 'run-echo-2');
    const flushError = await sink.forceFlush().then(
      () => '',
      (error: Error) => error.message,
    );
    expect(flushError).not.toBe('');
    expect(flushError).not.toContain('LOGFIRE-SECRET');
    expect(flushError).not.toContain(PASSWORD);
    await sink.shutdown().catch(() => undefined);
  });
});
