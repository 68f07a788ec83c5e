/**
 * In-process OTLP receivers for tests: gRPC (grpc-js with identity (de)serializers) and HTTP,
 * decoding the protobuf requests with the generated root that otlp-transformer 0.214 shipped
 * (dev-only; later versions have no decoder).
 */

import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { otlpAttributes as attrs } from './otlp-values.js';

const require = createRequire(import.meta.url);
const transformer = require.resolve('@opentelemetry/otlp-transformer');
const root: any = createRequire(transformer)('./generated/root.js');
const TraceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const MetricsRequest = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
const TraceResponse = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
const MetricsResponse = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;

const toObject = { longs: Number, bytes: String, defaults: false, arrays: true } as const;

/** A decoded span, flattened with its resource attributes. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  startNs: number;
  endNs: number;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  status: { code?: number; message?: string };
  resource: Record<string, unknown>;
}

/** A decoded metric: name, unit and its data points' attributes and values. */
export interface ReceivedMetric {
  name: string;
  unit: string;
  kind: 'sum' | 'histogram' | 'gauge';
  points: Array<{
    attributes: Record<string, unknown>;
    value?: number;
    count?: number;
    sum?: number;
  }>;
}

function b64hex(value: unknown): string {
  return typeof value === 'string' && value ? Buffer.from(value, 'base64').toString('hex') : '';
}

/** Decodes an OTLP trace export request. */
export function decodeTraces(bytes: Uint8Array): ReceivedSpan[] {
  const request = TraceRequest.toObject(TraceRequest.decode(bytes), toObject);
  const spans: ReceivedSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: b64hex(s.traceId),
          spanId: b64hex(s.spanId),
          parentSpanId: b64hex(s.parentSpanId),
          name: s.name,
          startNs: Number(s.startTimeUnixNano),
          endNs: Number(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          events: (s.events ?? []).map((e: { name: string; attributes?: [] }) => ({
            name: e.name,
            attributes: attrs(e.attributes),
          })),
          status: s.status ?? {},
          resource,
        });
      }
    }
  }
  return spans;
}

/** Decodes an OTLP metrics export request. */
export function decodeMetrics(bytes: Uint8Array): ReceivedMetric[] {
  const request = MetricsRequest.toObject(MetricsRequest.decode(bytes), toObject);
  const metrics: ReceivedMetric[] = [];
  for (const rm of request.resourceMetrics ?? []) {
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const kind = m.sum ? 'sum' : m.histogram ? 'histogram' : 'gauge';
        const points = (m.sum ?? m.histogram ?? m.gauge)?.dataPoints ?? [];
        metrics.push({
          name: m.name,
          unit: m.unit ?? '',
          kind,
          points: points.map((p: Record<string, unknown>) => ({
            attributes: attrs(p.attributes as []),
            ...(p.asDouble !== undefined ? { value: Number(p.asDouble) } : {}),
            ...(p.asInt !== undefined ? { value: Number(p.asInt) } : {}),
            ...(p.count !== undefined ? { count: Number(p.count) } : {}),
            ...(p.sum !== undefined ? { sum: Number(p.sum) } : {}),
          })),
        });
      }
    }
  }
  return metrics;
}

/** What a receiver got. */
export interface Received {
  spans: ReceivedSpan[];
  metrics: ReceivedMetric[];
  headers: Array<Record<string, unknown>>;
}

/**
 * An OTLP/HTTP protobuf receiver on 127.0.0.1; `mode` makes it fail on purpose (`401`/`403`:
 * refuses the credentials).
 */
export type ReceiverMode = 'ok' | 'hang' | '401' | '403' | '429' | '503';

export interface HttpReceiver extends Received {
  url: string;
  mode: ReceiverMode;
  /** The request paths, in order. */
  paths: string[];
  close(): Promise<void>;
}

export async function startHttpReceiver(): Promise<HttpReceiver> {
  const received = { spans: [], metrics: [], headers: [], paths: [] } as unknown as HttpReceiver;
  received.mode = 'ok';
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.paths.push(req.url ?? '');
      if (received.mode === 'hang') return;
      if (received.mode !== 'ok') {
        res.writeHead(Number(received.mode));
        res.end();
        return;
      }
      const body = Buffer.concat(chunks);
      received.headers.push(req.headers);
      if (req.url === '/v1/traces') {
        received.spans.push(...decodeTraces(body));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end(Buffer.from(TraceResponse.encode(TraceResponse.create({})).finish()));
      } else if (req.url === '/v1/metrics') {
        received.metrics.push(...decodeMetrics(body));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end(Buffer.from(MetricsResponse.encode(MetricsResponse.create({})).finish()));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  received.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  received.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return received;
}

/** What the gRPC receiver answers: `unauthenticated` (16) or `permission-denied` (7) on demand. */
export type GrpcReceiverMode = 'ok' | 'unauthenticated' | 'permission-denied';

export interface GrpcReceiver extends Received {
  url: string;
  mode: GrpcReceiverMode;
  /** Export calls received (traces and metrics), refused ones included. */
  calls: number;
  close(): Promise<void>;
}

/** An OTLP gRPC receiver on 127.0.0.1. */
export async function startGrpcReceiver(): Promise<GrpcReceiver> {
  const received = {
    spans: [],
    metrics: [],
    headers: [],
    mode: 'ok',
    calls: 0,
  } as unknown as GrpcReceiver;
  /** The refusal the mode asks for, or null. */
  const refusal = (): Partial<grpc.StatusObject> | null => {
    received.calls++;
    if (received.mode === 'unauthenticated')
      return { code: grpc.status.UNAUTHENTICATED, details: 'invalid credentials' };
    if (received.mode === 'permission-denied')
      return { code: grpc.status.PERMISSION_DENIED, details: 'not allowed' };
    return null;
  };
  const identity = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
  const server = new grpc.Server();
  const method = (path: string) => ({
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity.serialize,
    requestDeserialize: identity.deserialize,
    responseSerialize: identity.serialize,
    responseDeserialize: identity.deserialize,
  });
  server.addService(
    {
      Export: method('/opentelemetry.proto.collector.trace.v1.TraceService/Export'),
    } as grpc.ServiceDefinition,
    {
      Export: (
        call: grpc.ServerUnaryCall<Buffer, Buffer>,
        callback: grpc.sendUnaryData<Buffer>,
      ) => {
        const refused = refusal();
        if (refused) return callback(refused);
        received.headers.push(call.metadata.getMap());
        received.spans.push(...decodeTraces(call.request));
        callback(null, Buffer.from(TraceResponse.encode(TraceResponse.create({})).finish()));
      },
    },
  );
  server.addService(
    {
      Export: method('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export'),
    } as grpc.ServiceDefinition,
    {
      Export: (
        call: grpc.ServerUnaryCall<Buffer, Buffer>,
        callback: grpc.sendUnaryData<Buffer>,
      ) => {
        const refused = refusal();
        if (refused) return callback(refused);
        received.metrics.push(...decodeMetrics(call.request));
        callback(null, Buffer.from(MetricsResponse.encode(MetricsResponse.create({})).finish()));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  received.url = `http://127.0.0.1:${port}`;
  received.close = () => new Promise((resolve) => server.tryShutdown(() => resolve()));
  return received;
}
