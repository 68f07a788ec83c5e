/**
 * OTLP span exporters (http/protobuf here; gRPC through a factory the caller passes, so
 * only a sink that exports over gRPC installs gRPC), wrapped to count what was exported and
 * what failed, so `status()` and `forceFlush()` can tell. Metrics are not here either: the
 * metrics stack belongs to the sink that sends metrics (`@rlm/sink-otel`).
 */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { AuthCooldown, isAuthFailure } from '@rlm/obs-core';
import { type Scrub, secretScrubber } from './secrets.js';

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
  /** Spans not exported, including the {@link skipped} ones. */
  failed: number;
  /** Spans not sent at all because of an auth pause (a part of {@link failed}). */
  skipped: number;
  lastError: string | undefined;
}

/** An export error that means "bad credentials". */
export interface AuthFailure {
  /** The HTTP status, or its equivalent for gRPC (UNAUTHENTICATED 401, PERMISSION_DENIED 403). */
  status: number;
  /** How the backend said it, for messages: `HTTP 401`, `gRPC UNAUTHENTICATED`. */
  label: string;
}

/**
 * Whether an export error is an auth failure: an `OTLPExporterError` (or any error) with an
 * HTTP `code`/`statusCode` of 401 or 403, or a gRPC error with code 16 (UNAUTHENTICATED) or 7
 * (PERMISSION_DENIED).
 */
export function authFailureOf(error: unknown): AuthFailure | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  try {
    const e = error as {
      code?: unknown;
      statusCode?: unknown;
      details?: unknown;
      metadata?: unknown;
    };
    // grpc-js service errors carry `details` and `metadata` beside the numeric code.
    const grpc = typeof e.code === 'number' && ('details' in e || 'metadata' in e);
    if (grpc && isAuthFailure(e.code, true))
      return e.code === 16
        ? { status: 401, label: 'gRPC UNAUTHENTICATED' }
        : { status: 403, label: 'gRPC PERMISSION_DENIED' };
    const status = typeof e.code === 'number' ? e.code : e.statusCode;
    if (!grpc && isAuthFailure(status))
      return { status: status as number, label: `HTTP ${status}` };
  } catch {
    // a hostile error object: not an auth failure we can read
  }
  return undefined;
}

/**
 * The cooldown of one set of credentials, shared by everything that sends with them (spans,
 * metrics, a vendor's API), with the way the last refusal was said (HTTP or gRPC).
 */
export class ExportAuth {
  readonly cooldown: AuthCooldown;
  #label: string | undefined;

  constructor(cooldown: AuthCooldown = new AuthCooldown()) {
    this.cooldown = cooldown;
  }

  /** Whether requests must be skipped now. */
  get paused(): boolean {
    return this.cooldown.paused;
  }

  /**
   * Looks at a failed request's error: an auth failure starts (or lengthens) the pause and
   * returns `true`. A refusal of a request sent before the pause began does not lengthen it.
   */
  failed(error: unknown): boolean {
    const failure = authFailureOf(error);
    if (!failure) return false;
    this.#label = failure.label;
    this.cooldown.refused(failure.status);
    return true;
  }

  /** A request went through: the credentials work (again). */
  succeeded(): void {
    if (this.cooldown.detail() !== '') this.cooldown.succeed();
  }

  /** For `status()` and `doctor`; empty unless the credentials were refused lately. */
  detail(): string {
    const detail = this.cooldown.detail();
    const label = this.#label;
    return label && !label.startsWith('HTTP')
      ? detail.replace(/\(HTTP \d+\)/, `(${label})`)
      : detail;
  }

  /** The error of a request skipped during the pause. */
  skippedError(): Error {
    return new Error(`not sent: ${this.detail() || 'auth failed; paused'}`);
  }
}

/** The signal URL for http/protobuf: the base endpoint plus `/v1/<signal>` (OTel spec). */
export function signalUrl(endpoint: string, signal: 'traces' | 'metrics'): string {
  const trimmed = endpoint.replace(/\/+$/, '');
  if (/\/v1\/(traces|metrics)$/.test(trimmed))
    return trimmed.replace(/\/v1\/(traces|metrics)$/, `/v1/${signal}`);
  return `${trimmed}/v1/${signal}`;
}

/** Makes the gRPC trace exporter for the settings (see {@link createSpanExporter}). */
export type GrpcSpanExporterFactory = (settings: ExporterSettings) => SpanExporter;

/**
 * The trace exporter for the settings: OTLP http/protobuf, or for `grpc` the exporter that
 * `grpc` makes — gRPC is not a dependency of this package (a sink that offers gRPC, such as
 * `@rlm/sink-otel`, depends on it and passes the factory). Throws for `grpc` without one.
 */
export function createSpanExporter(
  settings: ExporterSettings,
  grpc?: GrpcSpanExporterFactory,
): SpanExporter {
  if (settings.protocol === 'grpc') {
    if (!grpc)
      throw new Error(
        'OTLP over gRPC needs a gRPC exporter (@rlm/otel-common has none; @rlm/sink-otel brings one)',
      );
    return grpc(settings);
  }
  return new ProtoTraceExporter({
    url: signalUrl(settings.endpoint, 'traces'),
    headers: settings.headers,
    timeoutMillis: settings.timeoutMs,
  });
}

/**
 * Wraps a span exporter to count exported and failed spans, and to pause after the backend
 * refused the credentials (HTTP 401/403, gRPC UNAUTHENTICATED/PERMISSION_DENIED): while the
 * pause lasts, exports fail at once without touching the network and their spans are counted
 * as skipped; the first export after the pause tries again, and one success ends it.
 */
export class CountingSpanExporter implements SpanExporter {
  readonly counters: ExportCounters = {
    exported: 0,
    failed: 0,
    skipped: 0,
    lastError: undefined,
  };
  readonly auth: ExportAuth;
  readonly #inner: SpanExporter;
  readonly #settled: (() => void) | undefined;
  readonly #scrub: Scrub;
  /** The last export succeeded (or none was tried yet). */
  healthy = true;
  /** Spans handed to the inner exporter whose outcome is not known yet. */
  #inFlight = 0;
  #idle: Array<() => void> = [];

  /**
   * `settled` is called after every export's outcome is counted; `scrub` masks the sink's
   * secrets in `lastError` (by default URL credentials and secret-looking variables only).
   */
  constructor(
    inner: SpanExporter,
    auth: ExportAuth = new ExportAuth(),
    settled?: () => void,
    scrub: Scrub = secretScrubber(),
  ) {
    this.#inner = inner;
    this.auth = auth;
    this.#settled = settled;
    this.#scrub = scrub;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.auth.paused) {
      this.auth.cooldown.skip(spans.length);
      this.counters.skipped += spans.length;
      this.counters.failed += spans.length;
      this.healthy = false;
      resultCallback({ code: ExportResultCode.FAILED, error: this.auth.skippedError() });
      this.#settled?.();
      return;
    }
    this.#inFlight += spans.length;
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      this.#inFlight -= spans.length;
      if (this.#inFlight === 0 && this.#idle.length > 0) {
        const waiting = this.#idle;
        this.#idle = [];
        for (const resolve of waiting) resolve();
      }
    };
    try {
      this.#inner.export(spans, (result) => {
        done();
        this.healthy = result.code === ExportResultCode.SUCCESS;
        if (result.code === ExportResultCode.SUCCESS) {
          this.counters.exported += spans.length;
          this.auth.succeeded();
        } else {
          this.counters.failed += spans.length;
          this.counters.lastError = result.error ? this.#scrub(result.error) : 'export failed';
          this.auth.failed(result.error);
        }
        resultCallback(result);
        this.#settled?.();
      });
    } catch (error) {
      done();
      this.healthy = false;
      this.counters.failed += spans.length;
      this.counters.lastError = this.#scrub(error);
      resultCallback({ code: ExportResultCode.FAILED, error: error as Error });
      this.#settled?.();
    }
  }

  /**
   * Resolves when no export is in flight: a batch processor's `forceFlush()` does not wait for
   * an export its timer already started, whose spans would otherwise look lost.
   */
  whenIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}
