import { ExportResultCode } from '@opentelemetry/core';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { PrivateTracing } from '@rlm/otel-common';
import { describe, expect, it } from 'vitest';

function tracing(): PrivateTracing {
  return new PrivateTracing({
    resource: {},
    exporter: new InMemorySpanExporter(),
    endpoint: 'http://127.0.0.1:9',
  });
}

describe('a failed flush says what failed', () => {
  it('only the other work failed (scores): its error alone, no "0 spans could not be exported"', async () => {
    const t = tracing();
    const error = await t
      .flush([Promise.reject(new Error('7 scores could not be sent: HTTP 500'))])
      .catch((e: unknown) => e as Error);
    expect((error as Error).message).toBe('7 scores could not be sent: HTTP 500');
    await t.shutdown();
  });

  it('spans and the other work failed: both, each with its count', async () => {
    const t = new PrivateTracing({
      resource: {},
      exporter: {
        export: (_spans, done) =>
          done({ code: ExportResultCode.FAILED, error: new Error('connection refused') }),
        shutdown: async () => {},
      },
      endpoint: 'http://127.0.0.1:9',
    });
    t.tracer.startSpan('s').end();
    t.ended();
    const error = await t
      .flush([Promise.reject(new Error('2 scores could not be sent: HTTP 500'))])
      .catch((e: unknown) => e as Error);
    expect((error as Error).message).toBe(
      '1 spans could not be exported to http://127.0.0.1:9 (connection refused); 2 scores could not be sent: HTTP 500',
    );
    await t.shutdown().catch(() => {});
  });
});
