/**
 * OTLP exporters for traces and metrics (gRPC, as the seed, or http/protobuf), wrapped to
 * count what was exported and what failed, so `status()` and `forceFlush()` can tell.
 */
import { Metadata } from '@grpc/grpc-js';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  AggregationTemporality,
  type InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** The OTLP transport. */
export type OtlpProtocol = 'grpc' | 'http/protobuf';

/** Where and how to export. */
export interface ExporterSettings {
  endpoint: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** Counts of the span exporter. */
export interface ExportCounters {
  exported: number;
  failed: number;
  lastError: string | undefined;
}

/** The signal URL for http/protobuf: the base endpoint plus `/v1/<signal>` (OTel spec). */
export function signalUrl(endpoint: string, signal: 'traces' | 'metrics'): string {
  const trimmed = endpoint.replace(/\/+$/, '');
  if (/\/v1\/(traces|metrics)$/.test(trimmed))
    return trimmed.replace(/\/v1\/(traces|metrics)$/, `/v1/${signal}`);
  return `${trimmed}/v1/${signal}`;
}

function grpcMetadata(headers: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key.toLowerCase(), value);
  return metadata;
}

/** The trace exporter for the settings. */
export function createSpanExporter(settings: ExporterSettings): SpanExporter {
  if (settings.protocol === 'grpc') {
    return new GrpcTraceExporter({
      url: settings.endpoint,
      metadata: grpcMetadata(settings.headers),
      timeoutMillis: settings.timeoutMs,
    });
  }
  return new ProtoTraceExporter({
    url: signalUrl(settings.endpoint, 'traces'),
    headers: settings.headers,
    timeoutMillis: settings.timeoutMs,
  });
}

/** The metric exporter for the settings. */
export function createMetricExporter(settings: ExporterSettings): PushMetricExporter {
  if (settings.protocol === 'grpc') {
    return new GrpcMetricExporter({
      url: settings.endpoint,
      metadata: grpcMetadata(settings.headers),
      timeoutMillis: settings.timeoutMs,
    });
  }
  return new ProtoMetricExporter({
    url: signalUrl(settings.endpoint, 'metrics'),
    headers: settings.headers,
    timeoutMillis: settings.timeoutMs,
  });
}

/** Wraps a span exporter to count exported and failed spans. */
export class CountingSpanExporter implements SpanExporter {
  readonly counters: ExportCounters = { exported: 0, failed: 0, lastError: undefined };
  readonly #inner: SpanExporter;

  constructor(inner: SpanExporter) {
    this.#inner = inner;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    try {
      this.#inner.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) {
          this.counters.exported += spans.length;
        } else {
          this.counters.failed += spans.length;
          this.counters.lastError = result.error?.message ?? 'export failed';
        }
        resultCallback(result);
      });
    } catch (error) {
      this.counters.failed += spans.length;
      this.counters.lastError = error instanceof Error ? error.message : String(error);
      resultCallback({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Wraps a metric exporter to remember the last failure. */
export class CountingMetricExporter implements PushMetricExporter {
  failures = 0;
  lastError: string | undefined;
  readonly #inner: PushMetricExporter;

  constructor(inner: PushMetricExporter) {
    this.#inner = inner;
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.#inner.export(metrics, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) {
        this.failures++;
        this.lastError = result.error?.message ?? 'metric export failed';
      }
      resultCallback(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return (
      this.#inner.selectAggregationTemporality?.(instrumentType) ??
      AggregationTemporality.CUMULATIVE
    );
  }
}
