/**
 * DESIGN.md section 3: a sink's own `status()` detail never contains a secret — nor its
 * counters' last error or its `check()`. Header values with characters gRPC metadata cannot
 * carry (grpc-js quotes them in its error), an endpoint that echoes the headers back, a URL
 * with credentials.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEchoServer } from '../../otel-common/test/echo-server.js';
import { createOtelSinkFromEnv, OpenTelemetrySink } from '../src/index.js';

/** Everything the sink shows: status (with counters and last error) and doctor's check. */
async function shown(sink: OpenTelemetrySink): Promise<string> {
  return `${JSON.stringify(sink.status())}\n${JSON.stringify(await sink.check())}`;
}

function run(sink: OpenTelemetrySink, id: string): void {
  sink.onRunStart(id, { task: 't', environment: 'e', params: {} });
  sink.onStep(id, {
    event: {
      step: 1,
      action: { action: 'code', code: 'x' },
      observation: { success: true, output: 'o' },
      reward: 1,
    },
    cumulativeReward: 1,
  });
  sink.onRunEnd(id, { result: { completed: true, steps: 1, totalReward: 1 } });
}

describe('gRPC header values never reach status or doctor', () => {
  it('a header option with a character gRPC cannot carry: named, never quoted', async () => {
    const secret = 'sk-live-OTLP-SECRET-999';
    const sink = new OpenTelemetrySink({
      endpoint: 'http://127.0.0.1:4317',
      headers: { 'x-api-key': `${secret}é` },
      metricsEnabled: false,
    });
    const status = sink.status();
    expect(status.available).toBe(false);
    expect(status.detail).toContain(
      "header 'x-api-key' has a value gRPC metadata cannot carry (illegal characters)",
    );
    const text = await shown(sink);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('OTLP-SECRET');
    await sink.shutdown();
  });

  it('OTEL_EXPORTER_OTLP_HEADERS with an encoded newline: named, never quoted', async () => {
    const secret = 'hc-SECRET-abc123XYZ';
    const sink = createOtelSinkFromEnv({
      DSPY_RLM_OTEL_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317',
      OTEL_EXPORTER_OTLP_HEADERS: `x-honeycomb-team=${secret}%0A`,
    });
    const status = sink.status();
    expect(status.available).toBe(false);
    expect(status.detail).toContain("header 'x-honeycomb-team'");
    const text = await shown(sink);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('SECRET');
    await sink.shutdown();
  });

  it('a header name that is not valid is not quoted either (it may hold the secret)', async () => {
    const secret = 'sk-NAME-SECRET-4242';
    const sink = new OpenTelemetrySink({
      endpoint: 'http://127.0.0.1:4317',
      // `Authorization: Bearer …=x` split at its `=` by a hand-written OTEL_EXPORTER_OTLP_HEADERS
      headers: { [`Authorization: Bearer ${secret}`]: 'x' },
      metricsEnabled: false,
    });
    expect(sink.status().available).toBe(false);
    // grpc-js quotes the name lower-cased: compare without case.
    const text = (await shown(sink)).toLowerCase();
    expect(text).not.toContain(secret.toLowerCase());
    await sink.shutdown();
  });

  it('valid headers still set up the exporter', async () => {
    const sink = new OpenTelemetrySink({
      endpoint: 'http://127.0.0.1:4317',
      headers: { 'X-Honeycomb-Team': 'hc-abc123', authorization: 'Bearer t0ken-1234' },
      metricsEnabled: false,
    });
    expect(sink.status().available).toBe(true);
    await sink.shutdown();
  });
});

describe('an endpoint that echoes the headers back', () => {
  let echo: EchoServer | undefined;
  afterAll(async () => {
    await echo?.close();
  });

  it('http/protobuf: the echoed header value is masked in status, last_error and check', async () => {
    echo = await startEchoServer();
    const secret = 'sk-live-ECHO-SECRET-31337';
    const sink = new OpenTelemetrySink({
      endpoint: echo.urlWithCredentials('otel-user', 'OTLP-URL-PASS-55'),
      protocol: 'http/protobuf',
      headers: { 'x-api-key': secret },
      metricsEnabled: false,
      scheduledDelayMs: 10,
      exportTimeoutMs: 3000,
    });
    run(sink, 'run-echo');
    await expect(sink.forceFlush()).rejects.toThrow();
    expect(echo.headers.length).toBeGreaterThan(0);
    expect(echo.headers[0]!['x-api-key']).toBe(secret); // the server did get (and echo) it
    const status = sink.status();
    expect(status.spans_failed).toBeGreaterThan(0);
    expect(typeof status.last_error).toBe('string');
    const text = await shown(sink);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('OTLP-URL-PASS-55');
    let flushError = '';
    run(sink, 'run-echo-2');
    await sink.forceFlush().catch((error: Error) => {
      flushError = error.message;
    });
    expect(flushError).not.toBe('');
    expect(flushError).not.toContain(secret);
    expect(flushError).not.toContain('OTLP-URL-PASS-55');
    await sink.shutdown().catch(() => undefined);
  });
});
