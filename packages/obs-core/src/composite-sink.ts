/**
 * `CompositeSink` (seed 001): a sink made of sinks. Each child gets its own ordered, bounded
 * lane, exactly as under the coordinator, so one slow or failing child neither stalls nor
 * breaks its siblings. Composites nest.
 */
import {
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  SINK_SPECIFICATION_VERSION,
  type SinkFinishOptions,
  type SinkStatus,
  type StepRecord,
} from './contract.js';
import {
  type DiagnosticLogger,
  RateLimitedLogger,
  silentLogger,
  stderrLogger,
} from './diagnostics.js';
import { createRedactor } from './redact.js';
import { SinkChannel, type SinkCounters } from './sink-channel.js';

/** Options of {@link CompositeSink}. */
export interface CompositeSinkOptions {
  /** @defaultValue `'composite'` */
  name?: string;
  /** Events held per child while it works on a promise. @defaultValue `10000` */
  maxQueueSize?: number;
  /** How long one child hook's promise may take. @defaultValue `10000` */
  callTimeoutMs?: number;
  /** Where child failures are reported; `false` silences them. @defaultValue stderr */
  logger?: DiagnosticLogger | false;
}

/** A child's status inside a composite's status. */
export interface CompositeChildStatus extends SinkStatus {
  counters: SinkCounters;
}

/**
 * Fans events out to child sinks with error isolation.
 *
 * @example
 * ```ts
 * const team = new CompositeSink([webhookSink, auditSink], { name: 'team-sinks' });
 * const obs = RLMObservability.withSinks([createJsonlSink(), team]);
 * ```
 */
export class CompositeSink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  readonly #channels: SinkChannel[] = [];
  readonly #log: RateLimitedLogger;
  readonly #scrub: (text: string) => string;
  readonly #options: { maxQueueSize: number; callTimeoutMs: number };

  constructor(
    sinks: Iterable<RLMObservabilitySink | null | undefined | false> = [],
    options: CompositeSinkOptions = {},
  ) {
    this.name = options.name ?? 'composite';
    const redactor = createRedactor();
    this.#scrub = redactor.scrub;
    const logger = options.logger === false ? silentLogger : (options.logger ?? stderrLogger);
    this.#log = new RateLimitedLogger(logger, this.#scrub);
    this.#options = {
      maxQueueSize: Math.max(1, options.maxQueueSize ?? 10_000),
      callTimeoutMs: Math.max(1, options.callTimeoutMs ?? 10_000),
    };
    for (const sink of sinks) if (sink) this.add(sink);
  }

  /** Adds a child sink. */
  add(sink: RLMObservabilitySink): void {
    this.#channels.push(new SinkChannel(sink, this.#options, this.#log, this.#scrub));
  }

  /** The child sinks. */
  get sinks(): RLMObservabilitySink[] {
    return this.#channels.map((c) => c.sink);
  }

  status(): SinkStatus & { sinks: CompositeChildStatus[] } {
    const sinks = this.#channels.map((channel): CompositeChildStatus => {
      let raw: SinkStatus | undefined;
      let failure: string | undefined;
      try {
        raw = channel.sink.status();
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error);
      }
      const detail =
        failure !== undefined
          ? `status() failed: ${failure}`
          : typeof raw?.detail === 'string'
            ? raw.detail
            : '';
      return {
        ...(raw ?? {}),
        name: typeof raw?.name === 'string' ? raw.name : channel.name,
        enabled: raw?.enabled !== false,
        available: failure === undefined && raw?.available === true,
        detail: this.#scrub(detail).slice(0, 500),
        counters: channel.counters(),
      };
    });
    const available = sinks.filter((s) => s.available).length;
    return {
      name: this.name,
      enabled: sinks.some((s) => s.enabled),
      available: sinks.length > 0 && available > 0,
      detail: `${available}/${sinks.length} sinks available`,
      sinks,
    };
  }

  onRunStart(runId: string, start: RunStart): void {
    for (const channel of this.#channels) channel.deliver('onRunStart', runId, start);
  }

  onStep(runId: string, step: StepRecord): void {
    for (const channel of this.#channels) channel.deliver('onStep', runId, step);
  }

  onRunEnd(runId: string, end: RunEnd): void {
    for (const channel of this.#channels) channel.deliver('onRunEnd', runId, end);
  }

  forceFlush(options?: SinkFinishOptions): Promise<void> {
    return this.#finish('forceFlush', options);
  }

  shutdown(options?: SinkFinishOptions): Promise<void> {
    return this.#finish('shutdown', options);
  }

  async #finish(mode: 'forceFlush' | 'shutdown', options?: SinkFinishOptions): Promise<void> {
    const failures: string[] = [];
    await Promise.all(
      this.#channels.map(async (channel) => {
        try {
          await channel.whenIdle();
          const sink = channel.sink;
          const fn = mode === 'shutdown' ? (sink.shutdown ?? sink.forceFlush) : sink.forceFlush;
          if (typeof fn === 'function') await fn.call(sink, options);
        } catch (error) {
          failures.push(
            `${channel.name}: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }),
    );
    if (failures.length > 0)
      throw new Error(this.#scrub(`${mode} failed in ${failures.join('; ')}`));
  }
}
