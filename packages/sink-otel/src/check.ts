/**
 * `rlm-obs doctor`'s question to an OTLP endpoint: does it take a trace export with these
 * credentials? An empty `ExportTraceServiceRequest` (zero bytes are a valid empty protobuf
 * message) is sent as the exporter would send it — same URL, headers or metadata, TLS
 * settings (the exporters' own configuration code resolves them, environment included) —
 * but once, without the exporter's retries, within the check's deadline. It runs with
 * OpenTelemetry tracing suppressed, so the application's HTTP or gRPC instrumentation never
 * records it.
 */
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { convertLegacyHttpOptions } from '@opentelemetry/otlp-exporter-base/node-http';
import { convertLegacyOtlpGrpcOptions } from '@opentelemetry/otlp-grpc-exporter-base';
import { type ExporterSettings, signalUrl } from '@rlm/otel-common';
import { grpcMetadata } from './exporters.js';

/** What the endpoint said to an empty trace export. */
export type ProbeOutcome =
  /** Accepted (HTTP 2xx, gRPC OK). */
  | { kind: 'ok' }
  /** Refused the credentials: `HTTP 401`, `HTTP 403`, `gRPC UNAUTHENTICATED`, `gRPC PERMISSION_DENIED`. */
  | { kind: 'auth'; label: string }
  /** Answered with another failure (`HTTP 404`, `gRPC UNIMPLEMENTED`); `reason` unscrubbed. */
  | { kind: 'failed'; label: string; reason?: string }
  /** No connection (refused, DNS, TLS); `reason` unscrubbed. */
  | { kind: 'unreachable'; reason: string }
  /** No answer before the deadline. */
  | { kind: 'timeout' };

/** The gRPC method of an OTLP trace export. */
export const TRACE_EXPORT_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/**
 * Sends one empty trace export to the sink's endpoint, tracing suppressed; never rejects.
 * `timeoutMs` bounds the whole exchange.
 */
export function probeTraceExport(
  settings: ExporterSettings,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  return context.with(suppressTracing(context.active()), () =>
    (settings.protocol === 'grpc' ? probeGrpc : probeHttp)(settings, timeoutMs).catch(
      (error: unknown): ProbeOutcome => ({ kind: 'unreachable', reason: reasonOf(error) }),
    ),
  );
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

async function probeHttp(settings: ExporterSettings, timeoutMs: number): Promise<ProbeOutcome> {
  // The exporter's own configuration: the same URL, headers (the environment's included) and
  // agent (TLS options from the environment) as the exports.
  const config = convertLegacyHttpOptions(
    {
      url: signalUrl(settings.endpoint, 'traces'),
      headers: settings.headers,
      timeoutMillis: timeoutMs,
    },
    'TRACES',
    'v1/traces',
    { 'Content-Type': 'application/x-protobuf' },
  );
  const url = new URL(config.url);
  const headers = { ...(await config.headers()), 'Content-Length': '0' };
  const agent = await config.agentFactory(url.protocol);
  const send = url.protocol === 'https:' ? https.request : http.request;
  try {
    return await new Promise<ProbeOutcome>((resolve) => {
      const request = send(url, { method: 'POST', headers, agent }, (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        response.once('end', () => {
          if (status >= 200 && status < 300) resolve({ kind: 'ok' });
          else if (status === 401 || status === 403)
            resolve({ kind: 'auth', label: `HTTP ${status}` });
          else resolve({ kind: 'failed', label: `HTTP ${status}` });
        });
        response.once('error', (error) =>
          resolve({ kind: 'failed', label: `HTTP ${status}`, reason: reasonOf(error) }),
        );
      });
      const timer = setTimeout(() => {
        resolve({ kind: 'timeout' });
        request.destroy();
      }, timeoutMs);
      timer.unref?.();
      request.once('close', () => clearTimeout(timer));
      request.once('error', (error) => resolve({ kind: 'unreachable', reason: reasonOf(error) }));
      request.end();
    });
  } finally {
    agent.destroy();
  }
}

/** The grpc-js the exporters use (its `instanceof` checks need their very copy). */
function grpcJs(): typeof import('@grpc/grpc-js') {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve('@opentelemetry/otlp-grpc-exporter-base'))('@grpc/grpc-js');
}

/** gRPC status codes read as auth failures. */
const GRPC_AUTH: Record<number, string> = { 16: 'UNAUTHENTICATED', 7: 'PERMISSION_DENIED' };

async function probeGrpc(settings: ExporterSettings, timeoutMs: number): Promise<ProbeOutcome> {
  const config = convertLegacyOtlpGrpcOptions(
    {
      url: settings.endpoint,
      metadata: grpcMetadata(settings.headers),
      timeoutMillis: timeoutMs,
    },
    'TRACES',
  );
  const grpc = grpcJs();
  const client = new grpc.Client(config.url, config.credentials());
  try {
    return await new Promise<ProbeOutcome>((resolve) => {
      const identity = (value: Buffer): Buffer => value;
      client.makeUnaryRequest(
        TRACE_EXPORT_METHOD,
        identity,
        identity,
        Buffer.alloc(0),
        config.metadata(),
        { deadline: Date.now() + timeoutMs },
        (error) => {
          if (!error) return resolve({ kind: 'ok' });
          const name = grpc.status[error.code] ?? String(error.code);
          if (GRPC_AUTH[error.code]) resolve({ kind: 'auth', label: `gRPC ${name}` });
          else if (error.code === grpc.status.DEADLINE_EXCEEDED) resolve({ kind: 'timeout' });
          else resolve({ kind: 'failed', label: `gRPC ${name}`, reason: error.details });
        },
      );
    });
  } finally {
    client.close();
  }
}
