/**
 * A private tracer: its own BasicTracerProvider with a batch processor and a counting
 * exporter — never registered globally, so the host's OpenTelemetry is left alone — plus the
 * bookkeeping every OTLP sink reports: spans ended, exported, failed and dropped.
 */
import type { Attributes, Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { CountingSpanExporter, type ExportAuth } from './exporters.js';
import { RunIdGenerator } from './ids.js';
import { safeEndpoint } from './values.js';

/** Options of {@link PrivateTracing}. */
export interface PrivateTracingOptions {
  resource: Attributes;
  exporter: SpanExporter;
  /** Where spans go, for error messages (no credentials). */
  endpoint: string;
  tracerName?: string;
  maxQueueSize?: number;
  maxExportBatchSize?: number;
  scheduledDelayMs?: number;
  exportTimeoutMs?: number;
  /** Another span processor around the counting exporter (a vendor's batching processor). */
  processor?: (exporter: SpanExporter) => SpanProcessor;
  /**
   * The auth pause of the sink's credentials, when other requests (metrics, a vendor's API)
   * share it. @defaultValue a pause of its own
   */
  auth?: ExportAuth;
}

/** Span counters, as sinks show them in `status()`. */
export interface SpanCounters {
  spans_ended: number;
  spans_exported: number;
  spans_failed: number;
  spans_dropped: number;
  /** Spans not sent during an auth pause (counted in `spans_failed` too). */
  spans_skipped: number;
}

export class PrivateTracing {
  readonly provider: BasicTracerProvider;
  readonly tracer: Tracer;
  readonly ids = new RunIdGenerator();
  readonly exporter: CountingSpanExporter;
  #ended = 0;
  #dropped = 0;
  readonly #endpoint: string;

  constructor(options: PrivateTracingOptions) {
    this.#endpoint = safeEndpoint(options.endpoint);
    this.exporter = new CountingSpanExporter(options.exporter, options.auth);
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes(options.resource),
      idGenerator: this.ids,
      // The coordinator samples per root run; everything that reaches a sink is kept.
      sampler: new AlwaysOnSampler(),
      spanProcessors: [
        options.processor
          ? options.processor(this.exporter)
          : new BatchSpanProcessor(this.exporter, {
              maxQueueSize: options.maxQueueSize ?? 2048,
              maxExportBatchSize: options.maxExportBatchSize ?? 512,
              scheduledDelayMillis: options.scheduledDelayMs ?? 1000,
              exportTimeoutMillis: options.exportTimeoutMs ?? 10_000,
            }),
      ],
    });
    this.tracer = this.provider.getTracer(options.tracerName ?? 'rlm-obs', '0.1.0');
  }

  /** The auth pause: after a 401/403 exports are skipped (and counted) for a while. */
  get auth(): ExportAuth {
    return this.exporter.auth;
  }

  /** Call once per span ended. */
  ended(count = 1): void {
    this.#ended += count;
  }

  counters(): SpanCounters {
    return {
      spans_ended: this.#ended,
      spans_exported: this.exporter.counters.exported,
      spans_failed: this.exporter.counters.failed,
      spans_dropped: this.#dropped,
      spans_skipped: this.exporter.counters.skipped,
    };
  }

  get lastError(): string | undefined {
    return this.exporter.counters.lastError;
  }

  /** Exports everything ended; rejects when spans failed or were dropped since the last flush. */
  flush(extra: Array<Promise<void> | undefined> = []): Promise<void> {
    // Counted before the flush starts: an export may fail synchronously (an auth pause).
    const failedBefore = this.exporter.counters.failed;
    const endedBefore = this.#ended;
    return this.#settle(failedBefore, endedBefore, [this.provider.forceFlush(), ...extra]);
  }

  shutdown(extra: Array<Promise<void> | undefined> = []): Promise<void> {
    const failedBefore = this.exporter.counters.failed;
    const endedBefore = this.#ended;
    return this.#settle(failedBefore, endedBefore, [this.provider.shutdown(), ...extra]);
  }

  async #settle(
    failedBefore: number,
    endedBefore: number,
    work: Array<Promise<void> | undefined>,
  ): Promise<void> {
    const droppedBefore = this.#dropped;
    const results = await Promise.allSettled(work);
    // After a flush every span ended before it began was exported or failed — unless the
    // batch processor's queue was full and dropped it (it keeps no count of its own). Spans
    // ended while the flush ran may still be queued: they are not counted as dropped.
    const c = this.exporter.counters;
    this.#dropped = Math.max(this.#dropped, endedBefore - c.exported - c.failed);
    const lost = c.failed - failedBefore;
    // Spans the batch processor's full queue dropped are lost too (a burst such as a replay).
    const droppedNow = this.#dropped - droppedBefore;
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (lost > 0 || droppedNow > 0 || rejected) {
      const reason =
        lost === 0 && !rejected
          ? 'the export queue was full'
          : (c.lastError ??
            (rejected?.reason instanceof Error
              ? rejected.reason.message
              : String(rejected?.reason)));
      const dropped = this.#dropped > 0 ? `, ${this.#dropped} dropped` : '';
      const auth = this.auth.detail();
      throw new Error(
        `${lost} spans could not be exported to ${this.#endpoint}${dropped} (${reason}${auth ? `; ${auth}` : ''})`,
      );
    }
  }
}
