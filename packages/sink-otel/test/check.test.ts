/**
 * `check()` (`rlm-obs doctor`) asks the endpoint for an empty trace export with the sink's
 * credentials: a backend that refuses them is a problem with a fix, never "accepts
 * connections"; the request runs with OpenTelemetry tracing suppressed.
 */
import http, { createServer, type IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed } from '@opentelemetry/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type GrpcReceiverMode,
  startGrpcReceiver,
  startHttpReceiver,
} from '../../otel-common/test/receivers.js';
import { OpenTelemetrySink, type OtelSinkOptions } from '../src/index.js';

const SECRET = 'Bearer check-SECRET-token-42';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sinkOf(options: OtelSinkOptions): OpenTelemetrySink {
  const sink = new OpenTelemetrySink({ metricsEnabled: false, ...options });
  cleanups.push(() => sink.shutdown().catch(() => {}));
  return sink;
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
}

/** An HTTP server answering every request with `status`, recording what it got. */
async function answering(status: number): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`status ${status}; you sent ${String(req.headers.authorization)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('check() over http/protobuf: an empty trace export with the headers', () => {
  for (const status of [401, 403]) {
    it(`HTTP ${status} to everything: a problem naming the refusal and the fix, no header value`, async () => {
      const backend = await answering(status);
      const sink = sinkOf({
        protocol: 'http/protobuf',
        endpoint: backend.url,
        headers: { authorization: SECRET },
      });
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.detail).toBe(backend.url);
      expect(check.problems).toHaveLength(1);
      expect(check.problems[0]!.problem).toBe(
        `${backend.url} refused the credentials (HTTP ${status}) of an empty trace export`,
      );
      expect(check.problems[0]!.fix).toContain('check OTEL_EXPORTER_OTLP_HEADERS');
      expect(JSON.stringify(check)).not.toContain('SECRET');
      // What the exporter would send: POST /v1/traces, protobuf, the headers, an empty message.
      expect(backend.seen).toHaveLength(1);
      expect(backend.seen[0]).toMatchObject({ method: 'POST', url: '/v1/traces', bytes: 0 });
      expect(backend.seen[0]!.headers.authorization).toBe(SECRET);
      expect(backend.seen[0]!.headers['content-type']).toBe('application/x-protobuf');
    });
  }

  it('an OTLP receiver that accepts: ok, and nothing is recorded there', async () => {
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    const sink = sinkOf({
      protocol: 'http/protobuf',
      endpoint: receiver.url,
      headers: { authorization: SECRET },
    });
    const check = await sink.check();
    expect(check).toEqual({
      ok: true,
      problems: [],
      detail: `${receiver.url} accepts trace exports with these credentials (http/protobuf)`,
    });
    expect(receiver.paths).toEqual(['/v1/traces']);
    expect(receiver.spans).toEqual([]);
    expect(receiver.headers[0]!.authorization).toBe(SECRET);
  });

  it('another status (404: not an OTLP receiver): reachable but failing, with the status', async () => {
    const backend = await answering(404);
    const sink = sinkOf({ protocol: 'http/protobuf', endpoint: `${backend.url}/wrong` });
    const check = await sink.check();
    expect(check.ok).toBe(false);
    expect(check.problems[0]!.problem).toBe(
      `${backend.url}/wrong is reachable but failed an empty trace export (HTTP 404; http/protobuf)`,
    );
    expect(check.problems[0]!.fix).toContain('OTLP/HTTP receiver');
    expect(backend.seen[0]!.url).toBe('/wrong/v1/traces');
  });

  it('a backend that accepts connections and never answers: a problem within the deadline', async () => {
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    receiver.mode = 'hang';
    const sink = sinkOf({ protocol: 'http/protobuf', endpoint: receiver.url });
    const check = await sink.check();
    expect(check.ok).toBe(false);
    expect(check.problems[0]!.problem).toContain('no answer to an empty trace export within 5 s');
  }, 20_000);
});

describe('check() over gRPC: an empty Export call with the metadata', () => {
  const refusals: Array<[GrpcReceiverMode, string]> = [
    ['unauthenticated', 'gRPC UNAUTHENTICATED'],
    ['permission-denied', 'gRPC PERMISSION_DENIED'],
  ];
  for (const [mode, label] of refusals) {
    it(`${label}: a problem naming the refusal and the fix, no header value`, async () => {
      const receiver = await startGrpcReceiver();
      cleanups.push(() => receiver.close());
      receiver.mode = mode;
      const sink = sinkOf({ endpoint: receiver.url, headers: { authorization: SECRET } });
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.problems[0]!.problem).toBe(
        `${receiver.url} refused the credentials (${label}) of an empty trace export`,
      );
      expect(check.problems[0]!.fix).toContain('check OTEL_EXPORTER_OTLP_HEADERS');
      expect(JSON.stringify(check)).not.toContain('SECRET');
      expect(receiver.calls).toBe(1);
    });
  }

  it('a receiver that accepts: ok, with the metadata sent, nothing recorded', async () => {
    const receiver = await startGrpcReceiver();
    cleanups.push(() => receiver.close());
    const sink = sinkOf({ endpoint: receiver.url, headers: { authorization: SECRET } });
    const check = await sink.check();
    expect(check).toEqual({
      ok: true,
      problems: [],
      detail: `${receiver.url} accepts trace exports with these credentials (grpc)`,
    });
    expect(receiver.calls).toBe(1);
    expect(receiver.headers[0]!.authorization).toBe(SECRET);
    expect(receiver.spans).toEqual([]);
  });

  it('an HTTP server on the gRPC port: reachable but failing, with the gRPC status', async () => {
    const backend = await answering(200);
    const sink = sinkOf({ endpoint: backend.url });
    const check = await sink.check();
    expect(check.ok).toBe(false);
    expect(check.problems[0]!.problem).toMatch(
      /is reachable but failed an empty trace export \(gRPC [A-Z_]+.*; grpc\)$/,
    );
    expect(check.problems[0]!.fix).toContain('OTLP gRPC receiver');
  });
});

describe("check()'s own request runs with OpenTelemetry tracing suppressed", () => {
  function withContextManager(): void {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    cleanups.push(() => {
      context.disable();
      manager.disable();
    });
  }

  it('http/protobuf: inside http.request (where HTTP instrumentation records)', async () => {
    withContextManager();
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    const suppressed: boolean[] = [];
    const request = http.request;
    vi.spyOn(http, 'request').mockImplementation(((...args: Parameters<typeof http.request>) => {
      suppressed.push(isTracingSuppressed(context.active()));
      return request(...args);
    }) as typeof http.request);
    const sink = sinkOf({ protocol: 'http/protobuf', endpoint: receiver.url });
    expect((await sink.check()).ok).toBe(true);
    expect(suppressed).toEqual([true]);
    expect(isTracingSuppressed(context.active())).toBe(false);
  });

  it('gRPC: inside the unary call (where gRPC instrumentation records)', async () => {
    withContextManager();
    const receiver = await startGrpcReceiver();
    cleanups.push(() => receiver.close());
    // The grpc-js the exporters (and the check) use.
    const require = createRequire(import.meta.url);
    const grpc = createRequire(require.resolve('@opentelemetry/otlp-grpc-exporter-base'))(
      '@grpc/grpc-js',
    ) as typeof import('@grpc/grpc-js');
    const suppressed: boolean[] = [];
    const call = grpc.Client.prototype.makeUnaryRequest;
    vi.spyOn(grpc.Client.prototype, 'makeUnaryRequest').mockImplementation(function (
      this: unknown,
      ...args: unknown[]
    ) {
      suppressed.push(isTracingSuppressed(context.active()));
      return (call as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof call);
    const sink = sinkOf({ endpoint: receiver.url });
    expect((await sink.check()).ok).toBe(true);
    expect(suppressed).toEqual([true]);
  });
});
