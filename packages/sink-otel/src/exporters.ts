/**
 * The parts of OTLP export only this sink needs — gRPC and metrics — so that the other
 * OTLP sinks (Logfire, Langfuse) install neither: the gRPC trace exporter, handed to
 * otel-common's `createSpanExporter`, and the metric exporters, wrapped to count failures.
 */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { createEmptyMetadata } from '@opentelemetry/otlp-grpc-exporter-base';
import {
  AggregationTemporality,
  type InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  ExportAuth,
  type ExporterSettings,
  grpcHeadersProblem,
  type Scrub,
  secretScrubber,
  signalUrl,
} from '@rlm/otel-common';

/**
 * The headers as gRPC metadata. Checked here first: grpc-js's own error quotes the value
 * (a token with a stray newline would end up in `status()`); ours names only the header.
 * (`createEmptyMetadata` loads grpc-js only when called, as the exporters do.)
 */
export function grpcMetadata(headers: Record<string, string>) {
  const problem = grpcHeadersProblem(headers);
  if (problem) throw new Error(problem);
  const metadata = createEmptyMetadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key.toLowerCase(), value);
  return metadata;
}

/** The OTLP gRPC trace exporter (for otel-common's `createSpanExporter`). */
export function grpcSpanExporter(settings: ExporterSettings): SpanExporter {
  return new GrpcTraceExporter({
    url: settings.endpoint,
    metadata: grpcMetadata(settings.headers),
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

/**
 * Wraps a metric exporter to remember the last failure; shares the span exporter's auth pause
 * (same credentials): while it lasts, metric exports are skipped too.
 */
export class CountingMetricExporter implements PushMetricExporter {
  failures = 0;
  /** Metric exports not sent because of an auth pause (a part of {@link failures}). */
  skipped = 0;
  lastError: string | undefined;
  readonly auth: ExportAuth;
  readonly #inner: PushMetricExporter;
  readonly #scrub: Scrub;

  /** `scrub` masks the sink's secrets in `lastError`. */
  constructor(
    inner: PushMetricExporter,
    auth: ExportAuth = new ExportAuth(),
    scrub: Scrub = secretScrubber(),
  ) {
    this.#inner = inner;
    this.auth = auth;
    this.#scrub = scrub;
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    if (this.auth.paused) {
      this.failures++;
      this.skipped++;
      resultCallback({ code: ExportResultCode.FAILED, error: this.auth.skippedError() });
      return;
    }
    this.#inner.export(metrics, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) {
        this.failures++;
        this.lastError = result.error ? this.#scrub(result.error) : 'metric export failed';
        this.auth.failed(result.error);
      } else {
        this.auth.succeeded();
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
