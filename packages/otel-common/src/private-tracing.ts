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
import { errorText } from '@rlm/obs-core';
import { CountingSpanExporter, type ExportAuth } from './exporters.js';
import { RunIdGenerator } from './ids.js';
import { type Scrub, secretScrubber } from './secrets.js';
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
  /**
   * Masks the sink's secrets (header values, tokens, URL credentials) in export errors, as
   * `lastError` and flush errors show them (see `secretScrubber`).
   * @defaultValue URL credentials and secret-looking environment variables only
   */
  scrub?: Scrub;
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

/**
 * The longest a hook is held for room in the export queue; a hold that runs out without any
 * export finishing stops holding until one succeeds (a hung or unreachable backend).
 */
const MAX_ROOM_WAIT_MS = 2_000;

/** The most spans one deferred hook call makes (a step: its span and, in some sinks, one more). */
const SPANS_PER_HOOK = 2;

/** Deferred hook calls, as {@link PrivateTracing.whenRoomAfter} needs them (a `HookGuard`). */
export interface QueuedHooks {
  /** Hook calls queued and not run yet. */
  readonly pending: number;
  /** Runs them now, in order. */
  drain(): void;
}

/** Why a queue or batch size is not usable, or `undefined` when it is (a whole number > 0). */
export function sizeProblem(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return undefined;
  return `${option} must be a whole number > 0 (got ${typeof value === 'number' ? value : typeof value})`;
}

export class PrivateTracing {
  readonly provider: BasicTracerProvider;
  readonly tracer: Tracer;
  readonly ids = new RunIdGenerator();
  readonly exporter: CountingSpanExporter;
  #ended = 0;
  #dropped = 0;
  readonly #endpoint: string;
  readonly #scrub: Scrub;
  readonly #highWater: number;
  /** Spans the batch processor exports at once (it starts an export as soon as it has them). */
  readonly #batchSize: number;
  readonly #maxWaitMs: number;
  /** A hold until the next turn of the event loop (see whenRoom), shared by its callers. */
  #nextTurn: Promise<void> | undefined;
  #waiters: Array<() => void> = [];
  #waitTimer: ReturnType<typeof setTimeout> | undefined;
  /** A hold ran out without any export finishing: no holding until one succeeds. */
  #stalled = false;

  /** Throws when `maxQueueSize` or `maxExportBatchSize` is not a whole number > 0. */
  constructor(options: PrivateTracingOptions) {
    const problem =
      sizeProblem('maxQueueSize', options.maxQueueSize) ??
      sizeProblem('maxExportBatchSize', options.maxExportBatchSize);
    // A queue of 0 would drop every span, and each flush would wait for the export timeout.
    if (problem) throw new Error(problem);
    this.#endpoint = safeEndpoint(options.endpoint);
    this.#scrub = options.scrub ?? secretScrubber({ urls: [options.endpoint] });
    const maxQueueSize = options.maxQueueSize ?? 2048;
    // The batch processor drops spans when its queue is full; past three quarters of it the
    // sink asks the coordinator to hold its events instead (see whenRoom()).
    this.#highWater = Math.max(1, Math.floor(maxQueueSize * 0.75));
    // The processor exports as soon as a batch is queued, else only on its timer: a batch no
    // bigger than the high-water mark means a hold always has an export under way to end it.
    this.#batchSize = Math.min(options.maxExportBatchSize ?? 512, this.#highWater);
    // Below the coordinator's default per-call timeout, so a held event never counts as failed.
    this.#maxWaitMs = Math.min(
      MAX_ROOM_WAIT_MS,
      (options.exportTimeoutMs ?? 10_000) + (options.scheduledDelayMs ?? 1000),
    );
    this.exporter = new CountingSpanExporter(
      options.exporter,
      options.auth,
      () => this.#exported(),
      this.#scrub,
    );
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes(options.resource),
      idGenerator: this.ids,
      // The coordinator samples per root run; everything that reaches a sink is kept.
      sampler: new AlwaysOnSampler(),
      spanProcessors: [
        options.processor
          ? options.processor(this.exporter)
          : new BatchSpanProcessor(this.exporter, {
              maxQueueSize,
              maxExportBatchSize: this.#batchSize,
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

  /** Spans ended and not yet exported, failed or counted as dropped: the export queue. */
  get backlog(): number {
    const c = this.exporter.counters;
    return Math.max(0, this.#ended - c.exported - c.failed - this.#dropped);
  }

  /**
   * Backpressure for a burst (a replay, a fast agent, a batch from the sink worker): `undefined`
   * while the export queue has room for `upcoming` more spans, else a promise that resolves
   * once there is room again. A sink returns it from its hook, so the coordinator holds the
   * sink's next events in its own ordered, bounded and counted queue instead of the batch
   * processor silently dropping spans.
   *
   * When the spans already ended fill the queue, the hold lasts until exports have brought it
   * down (to half, or below one batch). When only the `upcoming` spans would fill it — hook
   * calls still queued, which make spans only when they run — the hold lasts until the next
   * turn of the event loop, when they have run (a sink with a `HookGuard` should rather call
   * {@link whenRoomAfter}, which runs them at once and never holds for them).
   *
   * Only while the backend keeps accepting: after a failed export (an outage) holding events
   * would only move the loss from the span queue to the coordinator's, so spans are left to
   * the batch processor's bound and counted as dropped there; the same once a hold ran out
   * (2 s) with no export finishing (a backend that hangs, or that its client is still
   * retrying), until an export succeeds.
   */
  whenRoom(upcoming = 0): Promise<void> | undefined {
    if (this.#stalled || !this.exporter.healthy) return undefined;
    const backlog = this.backlog;
    if (backlog + upcoming < this.#highWater) return undefined;
    if (backlog < this.#highWater) return this.#untilNextTurn();
    this.#waitTimer ??= setTimeout(() => {
      // No export finished while we held: the backend hangs or is unreachable (its client
      // still retrying). Stop holding until an export succeeds again.
      this.#stalled = true;
      this.#release();
    }, this.#maxWaitMs);
    this.#waitTimer.unref?.();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * {@link whenRoom} for a sink whose hook calls are deferred: when the calls still queued
   * could fill the export queue, they are run first (so the queue never holds more than its
   * bound), then only the spans really waiting for export count. A hold therefore always
   * waits for an export under way, never for hook calls that have not run yet.
   */
  whenRoomAfter(hooks: QueuedHooks): Promise<void> | undefined {
    const pending = hooks.pending;
    if (pending > 0 && this.backlog + pending * SPANS_PER_HOOK >= this.#highWater) hooks.drain();
    return this.whenRoom();
  }

  /**
   * Resolves on the next turn of the event loop. A referenced immediate: the loop must not
   * sleep until some timer fires while the coordinator holds events for it.
   */
  #untilNextTurn(): Promise<void> {
    this.#nextTurn ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.#nextTurn = undefined;
        resolve();
      }),
    );
    return this.#nextTurn;
  }

  #exported(): void {
    if (this.exporter.healthy) this.#stalled = false;
    if (this.#waiters.length === 0) return;
    const backlog = this.backlog;
    // Below one batch the processor waits for its timer: holding on would only wait with it.
    if (!this.exporter.healthy || backlog <= this.#highWater / 2 || backlog < this.#batchSize)
      this.#release();
  }

  #release(): void {
    if (this.#waitTimer !== undefined) clearTimeout(this.#waitTimer);
    this.#waitTimer = undefined;
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiting) resolve();
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
    // An export the batch processor's timer started before the flush may still be running.
    await this.exporter.whenIdle();
    // After a flush every span ended before it began was exported or failed — unless the
    // batch processor's queue was full and dropped it (it keeps no count of its own). Spans
    // ended while the flush ran may still be queued: they are not counted as dropped.
    const c = this.exporter.counters;
    this.#dropped = Math.max(this.#dropped, endedBefore - c.exported - c.failed);
    const lost = c.failed - failedBefore;
    const droppedNow = this.#dropped - droppedBefore;
    // Everything ended before the flush is accounted for: nobody needs to wait any more.
    this.#release();
    // Said by what failed: spans not exported, spans dropped, the sink's other work (metrics,
    // scores) — never "0 spans could not be exported" when only the other work failed.
    const problems: string[] = [];
    const [spans, ...others] = results;
    if (lost > 0 || spans?.status === 'rejected') {
      const reason =
        lost > 0
          ? (c.lastError ?? 'export failed')
          : errorText((spans as PromiseRejectedResult).reason);
      const auth = this.auth.detail();
      const count = lost > 0 ? `${lost} spans` : 'spans';
      problems.push(
        `${count} could not be exported to ${this.#endpoint} (${reason}${auth ? `; ${auth}` : ''})`,
      );
    }
    // Spans the batch processor's full queue dropped are lost too (a burst such as a replay).
    if (droppedNow > 0) {
      const total = this.#dropped > droppedNow ? `; ${this.#dropped} in all` : '';
      problems.push(`${droppedNow} spans dropped (the export queue was full${total})`);
    }
    for (const other of others)
      if (other?.status === 'rejected') problems.push(errorText(other.reason));
    if (problems.length > 0) throw new Error(this.#scrub(problems.join('; ')));
  }
}
