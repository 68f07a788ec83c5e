/**
 * `CompositeSink` (seed 001): a sink made of sinks. Each child gets its own ordered, bounded
 * lane, exactly as under the coordinator, so one slow or failing child neither stalls nor
 * breaks its siblings. Composites nest.
 */
import {
  type JsonValue,
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  type ScoreRecord,
  SINK_SPECIFICATION_VERSION,
  type SinkFinishOptions,
  type SinkStatus,
  type StepRecord,
} from './contract.js';
import {
  type DiagnosticLogger,
  errorText,
  RateLimitedLogger,
  silentLogger,
  stderrLogger,
} from './diagnostics.js';
import { createRedactor } from './redact.js';
import { createSanitizer, type Sanitizer } from './sanitize.js';
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
  /** Turns a child's status into plain JSON data with secret-named keys and URL credentials masked. */
  readonly #sanitize: Sanitizer;
  readonly #options: { maxQueueSize: number; callTimeoutMs: number };

  constructor(
    sinks: Iterable<RLMObservabilitySink | null | undefined | false> = [],
    options: CompositeSinkOptions = {},
  ) {
    this.name = options.name ?? 'composite';
    const redactor = createRedactor();
    this.#scrub = redactor.scrub;
    this.#sanitize = createSanitizer({ maxStringLength: 4096 }, redactor);
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

  /**
   * The composite's status, with each child's status under `sinks`. Never throws: a child
   * whose `status()` (or one of its getters) throws shows as unavailable with
   * `status() failed: ...`. A child's status is copied as plain JSON data, with secret-named
   * keys (at any depth) and URL credentials masked, since the coordinator masks only the
   * top-level keys of the composite's own status.
   */
  status(): SinkStatus & { sinks: CompositeChildStatus[] } {
    const sinks = this.#channels.map((channel) => this.#childStatus(channel));
    const available = sinks.filter((s) => s.available).length;
    return {
      name: this.name,
      enabled: sinks.some((s) => s.enabled),
      available: sinks.length > 0 && available > 0,
      detail: `${available}/${sinks.length} sinks available`,
      sinks,
    };
  }

  #childStatus(channel: SinkChannel): CompositeChildStatus {
    // No prototype: an own `__proto__` key in a child's status stays a plain key.
    const copy: Record<string, unknown> = Object.create(null);
    let failure: string | undefined;
    try {
      const raw: unknown = channel.sink.status();
      // Read every top-level key here, so a throwing getter (or Proxy trap) counts as a
      // failed status() instead of escaping from the composite's own status().
      if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
        for (const key of Object.keys(raw)) copy[key] = (raw as Record<string, unknown>)[key];
      }
    } catch (error) {
      failure = errorText(error);
    }
    if (failure !== undefined) {
      return {
        name: channel.name,
        enabled: true,
        available: false,
        detail: this.#scrub(`status() failed: ${failure}`).slice(0, 500),
        counters: channel.counters(),
      };
    }
    const clean = this.#sanitize(copy);
    const data = isJsonObject(clean) ? this.#scrubJson(clean) : {};
    return {
      ...data,
      name: typeof data.name === 'string' ? data.name : channel.name,
      enabled: data.enabled !== false,
      available: data.available === true,
      detail: (typeof data.detail === 'string' ? data.detail : '').slice(0, 500),
      counters: channel.counters(),
    };
  }

  /** Scrubs every string of sanitized data: removes secrets remembered from masked keys. */
  #scrubJson(value: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
    const walk = (v: JsonValue): JsonValue => {
      if (typeof v === 'string') return this.#scrub(v);
      if (Array.isArray(v)) return v.map(walk);
      if (v !== null && typeof v === 'object')
        return Object.fromEntries(Object.entries(v).map(([key, item]) => [key, walk(item)]));
      return v;
    };
    return walk(value) as { [key: string]: JsonValue };
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

  /** Forwards a score or feedback to every child that implements `onScore`. */
  onScore(runId: string, score: ScoreRecord): void {
    for (const channel of this.#channels)
      if (channel.scores) channel.deliver('onScore', runId, score);
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

function isJsonObject(value: JsonValue): value is { [key: string]: JsonValue } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
