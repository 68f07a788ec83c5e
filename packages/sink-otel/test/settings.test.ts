import * as fs from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { loadObservability } from '@rlm/obs-core';
import { PrivateTracing } from '@rlm/otel-common';
import { afterEach, describe, expect, it } from 'vitest';
import { makeProject } from '../../obs-core/test/config/project.js';
import {
  createOtelSinkFromEnv,
  createSink,
  OpenTelemetrySink,
  type OtelSinkOptions,
  optionsSchema,
} from '../src/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sinkOf(options: OtelSinkOptions): OpenTelemetrySink {
  const sink = new OpenTelemetrySink({ metricsEnabled: false, ...options });
  cleanups.push(() => sink.shutdown().catch(() => {}));
  return sink;
}

async function tcpListener(): Promise<number> {
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

describe("'otel' listed in a config takes the OTEL_* environment as defaults", () => {
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.internal:4318',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc',
    OTEL_SERVICE_NAME: 'my-svc',
    DSPY_RLM_OTEL_METRICS_ENABLED: 'false',
  };

  it('createSink reads the context env; the options win', () => {
    const sink = createSink({}, { env, configDir: '/tmp' });
    cleanups.push(() => sink.shutdown().catch(() => {}));
    expect(sink).toMatchObject({
      endpoint: 'http://collector.internal:4318',
      protocol: 'http/protobuf',
      serviceName: 'my-svc',
      metricsEnabled: false,
      enabled: true,
    });
    const mine = createSink(
      { endpoint: 'http://mine:4317', protocol: 'grpc', serviceName: 'mine' },
      { env, configDir: '/tmp' },
    );
    cleanups.push(() => mine.shutdown().catch(() => {}));
    expect(mine).toMatchObject({
      endpoint: 'http://mine:4317',
      protocol: 'grpc',
      serviceName: 'mine',
    });
  });

  it("an endpoint in the options takes none of the env's destination: not its protocol, not its headers", async () => {
    const seen: Array<Record<string, unknown>> = [];
    const server = createHttpServer((req, res) => {
      seen.push({ ...req.headers });
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const appEnv = { ...env, OTEL_EXPORTER_OTLP_HEADERS: 'x-honeycomb-team=APP-SECRET-KEY' };
    const grpc = createSink({ endpoint: 'http://mine:4317' }, { env: appEnv, configDir: '/tmp' });
    cleanups.push(() => grpc.shutdown().catch(() => {}));
    expect(grpc).toMatchObject({
      endpoint: 'http://mine:4317',
      protocol: 'grpc',
      serviceName: 'my-svc',
    });
    const sink = createSink(
      { endpoint: `http://127.0.0.1:${port}`, protocol: 'http/protobuf', metricsEnabled: false },
      { env: appEnv, configDir: '/tmp' },
    );
    cleanups.push(() => sink.shutdown().catch(() => {}));
    sink.onRunStart('r', { task: 't', environment: 'e', params: {} } as never);
    sink.onRunEnd('r', { result: { completed: true } } as never);
    await sink.forceFlush();
    expect(seen.length).toBeGreaterThan(0);
    for (const headers of seen) expect(headers['x-honeycomb-team']).toBeUndefined();
  });

  it('through the config loader', async () => {
    const p = makeProject({
      'rlm-obs.config.json': JSON.stringify({ sinks: ['otel'] }),
    });
    cleanups.push(p.remove);
    fs.mkdirSync(path.join(p.dir, 'node_modules/@rlm'), { recursive: true });
    fs.symlinkSync(packageDir, path.join(p.dir, 'node_modules/@rlm/sink-otel'), 'dir');
    const obs = await loadObservability({
      cwd: p.dir,
      env,
      overrides: { logger: false, flushOnExit: false },
    });
    cleanups.push(() => obs.shutdown({ timeoutMs: 1000 }).then(() => {}));
    const sink = obs.getSink<OpenTelemetrySink>('opentelemetry');
    expect(sink?.endpoint).toBe('http://collector.internal:4318');
    expect(sink?.serviceName).toBe('my-svc');
  });
});

describe('an endpoint without a scheme', () => {
  for (const host of ['localhost', '127.0.0.1']) {
    it(`gRPC ${host}:port is TLS to that port, as the exporter reads it: detail and check() agree`, async () => {
      const port = await tcpListener();
      const sink = sinkOf({ endpoint: `${host}:${port}` });
      expect(sink.status()).toMatchObject({ available: true });
      expect(sink.status().detail).toBe(`https://${host}:${port} (no scheme given: gRPC over TLS)`);
      // The port takes connections, but no TLS and no gRPC: check() connects there, and its
      // empty trace export fails there, over TLS (a plain TCP listener passed before).
      const check = await sink.check();
      expect(check.ok).toBe(false);
      expect(check.detail).toBe(`https://${host}:${port}`);
      expect(check.problems[0]!.problem).toMatch(
        new RegExp(
          `^https://${host.replace(/\./g, '\\.')}:${port} is reachable but failed an empty trace export \\(gRPC [A-Z_]+.*; grpc over TLS: no scheme given\\)$`,
        ),
      );
      expect(check.problems[0]!.fix).toContain('write http:// for plaintext');
    });
  }

  it('http/protobuf host:port: unavailable, saying it needs http:// or https://', async () => {
    const sink = sinkOf({ protocol: 'http/protobuf', endpoint: 'user:secret@127.0.0.1:4318' });
    expect(sink.status()).toMatchObject({
      available: false,
      detail:
        'unavailable: endpoint 127.0.0.1:4318 must be a URL with http:// or https:// for http/protobuf (for example http://localhost:4318)',
    });
    const check = await sink.check();
    expect(check.ok).toBe(false);
    expect(JSON.stringify(check)).not.toContain('secret');
  });
});

describe('settings that would break exports quietly make the sink unavailable, naming the option', () => {
  it("protocol 'http/json' (option or OTEL_EXPORTER_OTLP_PROTOCOL)", async () => {
    const message =
      "unavailable: protocol (the option or OTEL_EXPORTER_OTLP_PROTOCOL) must be 'grpc' or 'http/protobuf' (got 'http/json': OTLP over http/json is not supported, use http/protobuf)";
    const sink = sinkOf({
      endpoint: 'http://127.0.0.1:4318',
      protocol: 'http/json' as OtelSinkOptions['protocol'],
    });
    expect(sink.status()).toMatchObject({ available: false, detail: message });
    expect((await sink.check()).problems[0]?.problem).toBe(message);
    const fromEnv = createOtelSinkFromEnv({
      DSPY_RLM_OTEL_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
    });
    cleanups.push(() => fromEnv.shutdown().catch(() => {}));
    expect(fromEnv.status()).toMatchObject({ available: false, detail: message });
  });

  for (const maxQueueSize of [0, -5, 1.5]) {
    it(`maxQueueSize ${maxQueueSize}`, () => {
      const sink = sinkOf({ spanExporter: new InMemorySpanExporter(), maxQueueSize });
      expect(sink.status()).toMatchObject({
        available: false,
        detail: `unavailable: maxQueueSize must be a whole number > 0 (got ${maxQueueSize})`,
      });
    });
  }

  it('other sizes and times', () => {
    const cases: Array<[OtelSinkOptions, string]> = [
      [{ maxExportBatchSize: 0 }, 'maxExportBatchSize must be a whole number > 0 (got 0)'],
      [{ maxOpenRuns: Number.NaN }, 'maxOpenRuns must be a whole number > 0 (got NaN)'],
      [
        { exportTimeoutMs: Number.NaN },
        'exportTimeoutMs must be a number of milliseconds > 0 (got NaN)',
      ],
      [{ scheduledDelayMs: -1 }, 'scheduledDelayMs must be a number of milliseconds >= 0 (got -1)'],
    ];
    for (const [options, problem] of cases) {
      const sink = sinkOf({ spanExporter: new InMemorySpanExporter(), ...options });
      expect(sink.status()).toMatchObject({ available: false, detail: `unavailable: ${problem}` });
    }
  });

  it('PrivateTracing refuses a queue that would drop every span (the sinks built on it)', () => {
    expect(
      () =>
        new PrivateTracing({
          resource: {},
          exporter: new InMemorySpanExporter(),
          endpoint: 'http://127.0.0.1:9',
          maxQueueSize: 0,
        }),
    ).toThrow('maxQueueSize must be a whole number > 0 (got 0)');
  });
});

describe('optionsSchema', () => {
  it('covers every option of OtelSinkOptions, objects from an .mjs config included', () => {
    const all: Required<OtelSinkOptions> = {
      enabled: true,
      serviceName: 's',
      endpoint: 'http://localhost:4317',
      protocol: 'grpc',
      headers: { a: 'b' },
      metricsEnabled: false,
      resourceAttributes: { a: 1 },
      exportTimeoutMs: 1000,
      maxQueueSize: 10,
      maxExportBatchSize: 5,
      scheduledDelayMs: 0,
      metricExportIntervalMs: 1000,
      maxOpenRuns: 5,
      spanExporter: new InMemorySpanExporter(),
      metricExporter: {} as Required<OtelSinkOptions>['metricExporter'],
      authCooldown: { initialMs: 1, maxMs: 2, jitter: 0, now: () => 0, random: () => 0 },
      limits: { task: 1, text: 2, error: 3 },
      name: 'n',
    };
    expect(optionsSchema['~standard'].validate(all)).toEqual({ value: all });
    const wrong = optionsSchema['~standard'].validate({ maxQueueSize: 0, protocol: 'http/json' });
    expect(wrong).toMatchObject({
      issues: [
        { path: ['maxQueueSize'], message: 'must be a whole number > 0 (got 0)' },
        { path: ['protocol'] },
      ],
    });
  });

  it('the config loader names an unknown option with the one meant', async () => {
    const p = makeProject({
      'rlm-obs.config.json': JSON.stringify({
        sinks: [['otel', { endpointUrl: 'http://localhost:4317' }]],
      }),
    });
    cleanups.push(p.remove);
    fs.mkdirSync(path.join(p.dir, 'node_modules/@rlm'), { recursive: true });
    fs.symlinkSync(packageDir, path.join(p.dir, 'node_modules/@rlm/sink-otel'), 'dir');
    const error = await loadObservability({
      cwd: p.dir,
      env: {},
      overrides: { logger: false, flushOnExit: false },
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain("unknown option 'endpointUrl'; did you mean 'endpoint'?");
    expect(message).toContain('sinks[0].options.endpointUrl');
  });
});
