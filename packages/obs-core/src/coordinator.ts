/**
 * The coordinator, `RLMObservability` (DESIGN.md section 4): one pass of sanitizing,
 * redaction and capping, then fan-out to every sink through its own ordered, bounded lane.
 */

import {
  type ContentPolicy,
  contentPolicy,
  type RecordContent,
  stripEnd,
  stripStart,
  stripStep,
} from './content.js';
import type {
  JsonObject,
  RLMObservabilitySink,
  RunEnd,
  RunResult,
  RunStart,
  ScoreRecord,
  SinkHook,
  SinkStatus,
  StepEvent,
  StepRecord,
} from './contract.js';
import {
  type DiagnosticLogger,
  errorText,
  RateLimitedLogger,
  silentLogger,
  stderrLogger,
} from './diagnostics.js';
import { parseTraceparent, traceIdFromRunId } from './ids.js';
import { preloadPrices, priceStepUsage } from './pricing.js';
import {
  type ExitParticipant,
  installSignalHandlers,
  registerForExit,
  unregisterForExit,
} from './process-hooks.js';
import { createRedactor, type RedactOptions, type Redactor } from './redact.js';
import { Run, type StartRunOptions } from './run.js';
import { createSanitizer, type SanitizeLimits, type Sanitizer } from './sanitize.js';
import {
  MAX_TIMER_MS,
  SinkChannel,
  type SinkCounters,
  type SinkFlushResult,
} from './sink-channel.js';
import { deliveryCounters } from './worker/delivery-counters.js';

/** Options of {@link RLMObservability}. */
export interface ObservabilityOptions {
  /** Attributes added to every run's `attributes`. @defaultValue `{}` */
  attributes?: Record<string, unknown>;
  /**
   * `false` keeps code, outputs, task text and LLM messages (with `{ inputs, outputs }`, one
   * side of them) away from every sink that is not local, keeping their sizes; a run's own
   * `recordContent` overrides it, and child runs inherit their parent's. @defaultValue `true`
   */
  recordContent?: RecordContent;
  /**
   * Price steps whose usage names a model and tokens but no cost, from the bundled price
   * table (`@pydantic/genai-prices`); caller-supplied costs win. @defaultValue `true`
   */
  pricing?: boolean;
  /** Redaction settings, or `false` to turn redaction off completely. @defaultValue `{}` */
  redact?: RedactOptions | false;
  /** The global size caps applied once, before any sink sees data. */
  limits?: SanitizeLimits;
  /**
   * Events held per sink while it works on a promise; beyond it events are dropped and
   * counted. @defaultValue `10000`
   */
  maxQueueSize?: number;
  /** How long one hook's promise may take before it counts as failed. @defaultValue `10000` */
  callTimeoutMs?: number;
  /** The deadline of the automatic flush when the process runs out of work. @defaultValue `5000` */
  exitFlushTimeoutMs?: number;
  /** Flush on `beforeExit` when events are undelivered. @defaultValue `true` */
  flushOnExit?: boolean;
  /**
   * Opt-in. After that automatic flush (done, or past its deadline), how long work a sink left
   * behind may keep the process alive — an SDK retrying a backend that is down — before
   * rlm-obs ends the process with `process.exit()` (`process.exitCode` kept, `exit` listeners
   * run). It only follows `beforeExit`, but the application's own `beforeExit` work is ended
   * too, so it is off unless asked for: a library does not end its host's process.
   * @defaultValue `false` — the process ends when the last work is done
   */
  exitGraceMs?: number | false;
  /**
   * Opt-in: shut down (under `exitFlushTimeoutMs`) on these signals, then re-raise them.
   * @defaultValue `[]` — the host's signals are left alone.
   */
  handleSignals?: readonly NodeJS.Signals[] | boolean;
  /** Where rlm-obs's own warnings go; `false` silences them. @defaultValue stderr */
  logger?: DiagnosticLogger | false;
  /**
   * Keep only a share of runs. The decision is made once per trace (from the root run's
   * trace id, so children and runs continued in other processes follow their root) and is
   * deterministic: a run kept at rate 0.1 is also kept at 0.5.
   */
  sampling?: SamplingOptions;
}

/** Sampling settings. */
export interface SamplingOptions {
  /** The share of runs every sink keeps (0..1). @defaultValue `1` */
  rate?: number;
  /** Per-sink rates by sink name, overriding `rate` and the sink's own default. */
  sinks?: Record<string, number>;
}

/** Options of {@link RLMObservability.flush} and {@link RLMObservability.shutdown}. */
export interface FlushOptions {
  /** One deadline for all sinks together. @defaultValue `5000` */
  timeoutMs?: number;
}

/** What `flush()`/`shutdown()` return. */
export interface FlushReport {
  /**
   * Every sink finished in time and without error. An enabled sink that is only a stand-in
   * (not installed, failed to load) makes it `false`; a disabled sink does not.
   */
  ok: boolean;
  durationMs: number;
  sinks: SinkFlushResult[];
}

/** A sink's status with the coordinator's delivery counters. */
export interface ObservedSinkStatus extends SinkStatus {
  counters: SinkCounters;
}

/** Coordinator-level counters. */
export interface CoordinatorStats {
  /** Events accepted for fan-out. */
  received: number;
  /** Events refused before fan-out (no usable run id). */
  rejected: number;
  /** Events that arrived after `shutdown()` began. */
  afterShutdown: number;
}

const MAX_RUN_ID_LENGTH = 512;
const MAX_SAMPLED_RUNS = 100_000;

/** A trace id's place in [0, 1): its first 52 bits. */
function samplePlace(traceId: string): number {
  return Number.parseInt(traceId.slice(0, 13), 16) / 2 ** 52;
}
const DEFAULT_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function finiteOr(value: unknown, fallback: number): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : fallback;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : fallback;
  }
  return fallback;
}

function delay(ms: number): { promise: Promise<'deadline'>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<'deadline'>((resolve) => {
    // Not unref'ed: a caller awaiting flush()/shutdown() must get its answer even when a hung
    // sink leaves nothing else on the event loop. It is cleared as soon as the work is done, so
    // it never keeps the process alive past the deadline.
    // setTimeout fires at once for 2^31 ms or more: a longer (or infinite) deadline never comes.
    if (!(ms >= MAX_TIMER_MS)) timer = setTimeout(() => resolve('deadline'), Math.max(0, ms || 0));
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * Fans run events out to sinks. It never blocks the caller and never throws into it.
 *
 * @example
 * ```ts
 * const obs = RLMObservability.withSinks([createJsonlSink()]);
 * const run = obs.startRun({ task: 'Sum a list', environment: 'pure_rlm' });
 * run.step({ action: { action: 'run_python', code: 'sum([1, 2])' },
 *            observation: { success: true, output: '3' }, reward: 1 });
 * run.end({ completed: true, finalAnswer: '3' });
 * await obs.shutdown();
 * ```
 */
/** Reads keys of a caller's object; a throwing getter reads as `undefined`. */
function safeReader(object: Record<string, unknown>): (key: string) => unknown {
  return (key) => {
    try {
      return object[key];
    } catch {
      return undefined;
    }
  };
}

export class RLMObservability implements ExitParticipant {
  readonly name = 'rlm-observability';
  readonly stats: CoordinatorStats = { received: 0, rejected: 0, afterShutdown: 0 };

  #channels: SinkChannel[] = [];
  /** Lanes of removed sinks that still deliver what was queued before the removal. */
  #draining: SinkChannel[] = [];
  readonly #redactor: Redactor;
  readonly #sanitize: Sanitizer;
  readonly #log: RateLimitedLogger;
  readonly #attributes: Record<string, unknown> | undefined;
  readonly #maxQueueSize: number;
  readonly #callTimeoutMs: number;
  readonly #exitTimeoutMs: number;
  /** @internal */
  readonly exitGraceMs: number | false;
  readonly #sampling: SamplingOptions | undefined;
  readonly #content: ContentPolicy;
  readonly #pricing: boolean;
  /** Per open run whose content policy differs from the global one. */
  readonly #runContent = new Map<string, ContentPolicy>();
  /** Per run: its place in [0, 1) for sampling, while sampling is active. */
  readonly #runSample = new Map<string, number>();
  #samplingActive = false;
  #dirty = false;
  readonly #flushOnExit: boolean;
  #closed = false;
  #shutdown: Promise<FlushReport> | undefined;
  #removeSignalHandlers: (() => void) | undefined;

  constructor(options: ObservabilityOptions = {}) {
    const redact = options.redact;
    // Recorded data: as configured (`false` really records secrets as they are).
    const data = createRedactor(redact === undefined ? {} : redact);
    this.#sanitize = createSanitizer(options.limits, data);
    // Diagnostics (warnings, status details, flush errors) are always scrubbed fully: the same
    // redactor when the data's is complete, else a full one that also knows what the data's
    // redactor learned and its own patterns.
    const complete =
      redact === undefined ||
      (redact !== false && redact.defaultKeys !== false && redact.urlCredentials !== false);
    if (complete) this.#redactor = data;
    else {
      const full = createRedactor({ ...(redact || {}), defaultKeys: true, urlCredentials: true });
      this.#redactor = { ...full, scrub: (text: string) => full.scrub(data.scrub(text)) };
    }
    const logger = options.logger === false ? silentLogger : (options.logger ?? stderrLogger);
    this.#log = new RateLimitedLogger(logger, this.#redactor.scrub);
    this.#attributes =
      options.attributes && Object.keys(options.attributes).length > 0
        ? options.attributes
        : undefined;
    this.#maxQueueSize = Math.max(1, options.maxQueueSize ?? 10_000);
    this.#callTimeoutMs = Math.max(1, options.callTimeoutMs ?? 10_000);
    this.#exitTimeoutMs = Math.max(1, options.exitFlushTimeoutMs ?? 5_000);
    // Off unless asked for: a library never ends the host's process on its own (DESIGN §4.4).
    const grace = options.exitGraceMs;
    this.exitGraceMs =
      typeof grace === 'number' && Number.isFinite(grace) ? Math.max(0, grace) : false;
    this.#sampling = options.sampling;
    this.#content = contentPolicy(options.recordContent);
    this.#pricing = options.pricing !== false;
    // The price table is ~2 MB of data: load it between two calls, not inside one.
    if (this.#pricing) setImmediate(preloadPrices).unref();
    this.#flushOnExit = options.flushOnExit !== false;
    const signals = options.handleSignals === true ? DEFAULT_SIGNALS : options.handleSignals || [];
    if (signals.length > 0) this.#removeSignalHandlers = installSignalHandlers(this, signals);
  }

  /**
   * A coordinator with these sinks (the seed's `RLMObservability.with_sinks`).
   *
   * @example
   * ```ts
   * const obs = RLMObservability.withSinks([createJsonlSink({ dir: './obs' })]);
   * ```
   */
  static withSinks(
    sinks: Iterable<RLMObservabilitySink | null | undefined | false>,
    options?: ObservabilityOptions,
  ): RLMObservability {
    const obs = new RLMObservability(options);
    for (const sink of sinks) if (sink) obs.addSink(sink);
    return obs;
  }

  /**
   * The seed's `RLMObservability.default()`: the config file if one is found, else the seed's
   * environment variables. Same as `loadObservability()`.
   */
  static async default(
    options?: import('./config/load-observability.js').LoadObservabilityOptions,
  ): Promise<RLMObservability> {
    const { loadObservability } = await import('./config/load-observability.js');
    return loadObservability(options);
  }

  /**
   * The redactor of this coordinator's diagnostics, for sinks and tools that print them: always
   * on, also with `redact: false` (which only leaves the recorded data as it is).
   */
  get redactor(): Redactor {
    return this.#redactor;
  }

  /**
   * Adds a sink; events from now on reach it. A sink with a duplicate name is refused. A
   * placeholder (`createPlaceholderSink`: disabled, not installed, failed to load) records
   * nothing and gets no events at all, so its counters stay at 0.
   */
  addSink(sink: RLMObservabilitySink): boolean {
    if (!isSinkLike(sink)) {
      this.#log.warn('addSink:invalid', 'addSink: ignoring a value that is not a sink');
      return false;
    }
    // Added back while its old lane still delivers: the same lane, so its order holds.
    const draining = this.#draining.find((c) => c.sink === sink);
    const channel =
      draining ??
      new SinkChannel(
        sink,
        { maxQueueSize: this.#maxQueueSize, callTimeoutMs: this.#callTimeoutMs },
        this.#log,
        this.#redactor.scrub,
      );
    if (this.#channels.some((c) => c.name === channel.name)) {
      this.#log.warn(
        `addSink:${channel.name}`,
        `addSink: a sink named '${channel.name}' is already registered; ignoring the new one`,
      );
      return false;
    }
    if (draining) this.#draining = this.#draining.filter((c) => c !== draining);
    channel.samplingRate = this.#rateFor(channel);
    this.#channels = [...this.#channels, channel];
    this.#samplingActive = this.#channels.some((c) => c.samplingRate < 1);
    return true;
  }

  #rateFor(channel: SinkChannel): number {
    const byName = this.#sampling?.sinks?.[channel.name];
    let rate: unknown = byName;
    if (rate === undefined) {
      let own: unknown;
      try {
        own = channel.sink.defaultSamplingRate;
      } catch {
        own = undefined;
      }
      rate = typeof own === 'number' ? own : this.#sampling?.rate;
    }
    return typeof rate === 'number' && Number.isFinite(rate) ? Math.min(1, Math.max(0, rate)) : 1;
  }

  /**
   * Removes the sink with this name. Events already queued for it are still delivered, in
   * order (`flush()` and `shutdown()` wait for them, under their deadline); the sink itself is
   * yours again: rlm-obs does not flush or shut it down. Adding it back before its queue ran
   * dry continues the same queue.
   */
  removeSink(name: string): boolean {
    const removed = this.#channels.filter((c) => c.name === name);
    if (removed.length === 0) return false;
    this.#channels = this.#channels.filter((c) => c.name !== name);
    this.#samplingActive = this.#channels.some((c) => c.samplingRate < 1);
    for (const channel of removed) {
      if (channel.pending === 0) continue;
      this.#draining = [...this.#draining, channel];
      void channel.whenIdle().then(() => {
        if (!this.#channels.includes(channel))
          this.#draining = this.#draining.filter((c) => c !== channel);
      });
    }
    return true;
  }

  /** The sink with this name, if registered. */
  getSink<T extends RLMObservabilitySink = RLMObservabilitySink>(name: string): T | undefined {
    return this.#channels.find((c) => c.name === name)?.sink as T | undefined;
  }

  /** The registered sinks, in delivery order. */
  get sinks(): RLMObservabilitySink[] {
    return this.#channels.map((c) => c.sink);
  }

  /**
   * Events arrived since the last flush began: the exit hook holds this coordinator until its
   * next flush. One with nothing to flush is not held — a coordinator dropped after `flush()`
   * without `shutdown()` can be garbage-collected.
   */
  #markDirty(): void {
    this.#dirty = true;
    if (this.#flushOnExit && !this.#closed) registerForExit(this);
  }

  /** True when events arrived since the last flush began. */
  get needsFlush(): boolean {
    return this.#dirty && !this.#closed;
  }

  /** Whether `shutdown()` has been called. */
  get isShutdown(): boolean {
    return this.#closed;
  }

  /**
   * Every sink's status (never throws, never does I/O, never shows a secret) with its
   * delivery counters.
   */
  status(): ObservedSinkStatus[] {
    return this.#channels.map((channel) => this.#sinkStatus(channel));
  }

  #sinkStatus(channel: SinkChannel): ObservedSinkStatus {
    let raw: SinkStatus | undefined;
    let failure: string | undefined;
    try {
      raw = channel.sink.status();
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    const base: Record<string, unknown> = {};
    if (isObject(raw)) {
      for (const key of Object.keys(raw)) {
        try {
          const value = raw[key];
          if (this.#redactor.isSecretKey(key) && typeof value === 'string') {
            base[key] = this.#redactor.marker;
          } else {
            base[key] = typeof value === 'string' ? this.#redactor.scrub(value) : value;
          }
        } catch {
          // a throwing getter in a status object: leave the key out
        }
      }
    }
    return {
      ...base,
      name: typeof base.name === 'string' ? base.name : channel.name,
      enabled: typeof base.enabled === 'boolean' ? base.enabled : true,
      available:
        failure === undefined && typeof base.available === 'boolean' ? base.available : false,
      detail:
        failure !== undefined
          ? this.#redactor.scrub(`status() failed: ${failure}`).slice(0, 500)
          : typeof base.detail === 'string'
            ? base.detail
            : '',
      counters: channel.counters(),
    } as ObservedSinkStatus;
  }

  /** The seed hook: a run starts. */
  onRunStart(runId: string, start: RunStart): void {
    let id: string | undefined;
    try {
      id = this.#accept(runId, 'onRunStart');
      if (id === undefined) return;
      const prepared = this.#prepareStart(start);
      const policy = this.#startPolicy(id, start, prepared.parentRunId);
      // Local sinks keep the content, and what the run withholds from the others: whatever
      // replays from them (rlm-obs replay) withholds it again.
      this.#fanOut(
        'onRunStart',
        id,
        policy ? { ...prepared, recordContent: { ...policy } } : prepared,
        policy && stripStart(prepared, policy),
      );
    } catch (error) {
      this.#unusable('onRunStart', id, error);
    }
  }

  /** The seed hook: a step finished. */
  onStep(runId: string, step: StepRecord): void {
    let id: string | undefined;
    try {
      id = this.#accept(runId, 'onStep');
      if (id === undefined) return;
      let event: unknown;
      let cumulative: unknown;
      try {
        event = step?.event;
        cumulative = step?.cumulativeReward;
      } catch {
        // a throwing getter on the record itself
      }
      this.#deliverStep(id, this.#prepareEvent(event, undefined), finiteOr(cumulative, 0));
    } catch (error) {
      this.#unusable('onStep', id, error);
    }
  }

  /**
   * The seed hook: a run ended (completed or not). The seed's end-of-run scores (`reward` and
   * `completed`) go out through `onScore` first, while the run is still open in every sink.
   */
  onRunEnd(runId: string, end: RunEnd): void {
    let id: string | undefined;
    try {
      id = this.#accept(runId, 'onRunEnd');
      if (id === undefined) return;
      this.#runEnd(id, this.#prepareEnd(end));
    } catch (error) {
      this.#unusable('onRunEnd', id, error);
    }
  }

  #runEnd(id: string, prepared: RunEnd): void {
    const at = prepared.result.finishedAt ?? new Date().toISOString();
    const reward = prepared.result.totalReward;
    if (typeof reward === 'number' && Number.isFinite(reward))
      this.#fanOut('onScore', id, {
        name: 'reward',
        value: reward,
        kind: 'score',
        source: 'rlm-obs',
        at,
      });
    if (typeof prepared.result.completed === 'boolean')
      this.#fanOut('onScore', id, {
        name: 'completed',
        value: prepared.result.completed,
        kind: 'score',
        source: 'rlm-obs',
        at,
      });
    const policy = this.#runContent.get(id) ?? this.#nonDefault(this.#content);
    this.#fanOut('onRunEnd', id, prepared, policy && stripEnd(prepared, policy));
    this.#runContent.delete(id);
  }

  /**
   * A score or feedback on a run (`run.score()`, `run.feedback()`); may come after the run
   * ended. Only sinks that implement `onScore` receive it.
   */
  onScore(runId: string, score: Omit<ScoreRecord, 'at' | 'kind'> & Partial<ScoreRecord>): void {
    let id: string | undefined;
    try {
      id = this.#accept(runId, 'onScore');
      if (id === undefined) return;
      const prepared = this.#prepareScore(score);
      if (prepared) this.#fanOut('onScore', id, prepared);
    } catch (error) {
      this.#unusable('onScore', id, error);
    }
  }

  /**
   * An event whose preparation threw (a hostile input the careful reads did not foresee):
   * not delivered, counted as rejected, said once in a while — never thrown at the caller.
   */
  #unusable(hook: SinkHook, acceptedId: string | undefined, error: unknown): void {
    if (acceptedId !== undefined) this.stats.received--;
    this.stats.rejected++;
    this.#log.warn(
      `unusable:${hook}`,
      `${hook}: event dropped, its input could not be read: ${errorText(error)}`,
    );
  }

  /** The content policy of a starting run, remembered when it differs from the global one. */
  #startPolicy(
    runId: string,
    start: unknown,
    parentRunId: string | undefined,
  ): ContentPolicy | undefined {
    let own: unknown;
    try {
      own = (start as { recordContent?: unknown } | undefined)?.recordContent;
    } catch {
      own = undefined;
    }
    const inherited =
      (parentRunId !== undefined ? this.#runContent.get(parentRunId) : undefined) ?? this.#content;
    const policy = contentPolicy(own as RecordContent | undefined, inherited);
    if (policy.inputs !== this.#content.inputs || policy.outputs !== this.#content.outputs) {
      if (this.#runContent.size >= MAX_SAMPLED_RUNS) {
        const oldest = this.#runContent.keys().next().value;
        if (oldest !== undefined) this.#runContent.delete(oldest);
      }
      this.#runContent.set(runId, policy);
    }
    return this.#nonDefault(policy);
  }

  /** The policy when it withholds anything, else undefined (the fast path). */
  #nonDefault(policy: ContentPolicy): ContentPolicy | undefined {
    return policy.inputs && policy.outputs ? undefined : policy;
  }

  #deliverStep(id: string, event: StepEvent, cumulativeReward: number): void {
    const policy = this.#runContent.size > 0 ? this.#runContent.get(id) : undefined;
    const withheld = policy ?? this.#nonDefault(this.#content);
    this.#fanOut(
      'onStep',
      id,
      { event, cumulativeReward },
      withheld && { event: stripStep(event, withheld), cumulativeReward },
    );
  }

  /**
   * Starts a run and announces it to every sink. The run keeps the cumulative reward and the
   * step count for you.
   *
   * @example
   * ```ts
   * const run = obs.startRun({ task: 'Fix the bug', environment: 'repo', params: { max_steps: 8 } });
   * const child = run.child({ task: 'Read the failing test' });
   * ```
   */
  startRun(options: StartRunOptions = {}): Run {
    return new Run(this, options);
  }

  /** @internal the run API's step: a default step number and a known cumulative reward */
  _runStep(runId: string, event: StepEvent, cumulativeReward: number, stepNumber: number): void {
    let id: string | undefined;
    try {
      id = this.#accept(runId, 'onStep');
      if (id === undefined) return;
      this.#deliverStep(id, this.#prepareEvent(event, stepNumber), cumulativeReward);
    } catch (error) {
      this.#unusable('onStep', id, error);
    }
  }

  /** @internal the run id the sinks see for `runId` (huge ids are shortened), if usable */
  _runId(runId: unknown): string | undefined {
    return typeof runId === 'string' && runId.length > 0 && runId.length <= MAX_RUN_ID_LENGTH
      ? runId
      : this.#normalizeRunId(runId);
  }

  /** @internal */
  _warn(key: string, message: string): void {
    this.#log.warn(key, message);
  }

  /**
   * Drains every sink's queue and calls each sink's `forceFlush()`, all under one deadline.
   * Never rejects.
   */
  flush(options: FlushOptions = {}): Promise<FlushReport> {
    this.#dirty = false;
    unregisterForExit(this);
    return this.#finish('flush', options.timeoutMs ?? 5_000);
  }

  /**
   * Drains every queue and calls each sink's `shutdown()` (or `forceFlush()`), all under one
   * deadline; a hung sink cannot stretch it. Idempotent: later calls return the first call's
   * promise. Events after it are counted and dropped.
   */
  shutdown(options: FlushOptions = {}): Promise<FlushReport> {
    if (this.#shutdown) return this.#shutdown;
    this.#closed = true;
    this.#dirty = false;
    unregisterForExit(this);
    this.#removeSignalHandlers?.();
    this.#shutdown = this.#finish('shutdown', options.timeoutMs ?? 5_000);
    return this.#shutdown;
  }

  /** @internal */
  flushOnExit(): Promise<FlushReport> {
    return this.flush({ timeoutMs: this.#exitTimeoutMs });
  }

  /** @internal */
  endingProcess(graceMs: number): void {
    this.#log.warn(
      'exit:end',
      `ending the process: sink work still kept it alive ${graceMs} ms after the exit flush (a backend down?); exitGraceMs: false waits for it`,
    );
  }

  /** @internal */
  shutdownOnSignal(): Promise<FlushReport> {
    return this.shutdown({ timeoutMs: this.#exitTimeoutMs });
  }

  async #finish(mode: 'flush' | 'shutdown', timeoutMs: number): Promise<FlushReport> {
    const started = performance.now();
    const deadline = delay(timeoutMs);
    const channels = this.#channels;
    try {
      const [sinks] = await Promise.all([
        Promise.all(
          channels.map((channel) =>
            this.#finishChannel(channel, mode, deadline.promise, started + timeoutMs),
          ),
        ),
        // Removed sinks: what was queued for them is delivered first (no flush of their own).
        Promise.all(
          this.#draining.map(async (channel) => {
            const outcome = await Promise.race([channel.whenIdle(), deadline.promise]);
            if (outcome === 'deadline' && mode === 'shutdown') channel.abandon();
          }),
        ),
      ]);
      return {
        ok: sinks.every((s) => s.ok),
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        sinks,
      };
    } finally {
      deadline.cancel();
    }
  }

  async #finishChannel(
    channel: SinkChannel,
    mode: 'flush' | 'shutdown',
    deadline: Promise<'deadline'>,
    deadlineAt: number,
  ): Promise<SinkFlushResult> {
    let error: string | undefined;
    const work = (async () => {
      await channel.whenIdle();
      const sink = channel.sink;
      const fn = mode === 'shutdown' ? (sink.shutdown ?? sink.forceFlush) : sink.forceFlush;
      if (typeof fn === 'function')
        await fn.call(sink, { timeoutMs: Math.max(0, Math.round(deadlineAt - performance.now())) });
      return 'done' as const;
    })().catch((e: unknown) => {
      error = this.#redactor.scrub(e instanceof Error ? e.message : String(e)).slice(0, 500);
      this.#log.warn(`${channel.name}:${mode}`, `sink '${channel.name}' ${mode} failed: ${error}`);
      return 'failed' as const;
    });
    const outcome = await Promise.race([work, deadline]);
    if (outcome === 'deadline') {
      if (mode === 'shutdown') channel.abandon();
      this.#log.warn(
        `${channel.name}:${mode}:deadline`,
        `sink '${channel.name}' did not finish ${mode} before the deadline`,
      );
    }
    const result: SinkFlushResult = {
      name: channel.name,
      ok: outcome === 'done',
      deadlineExceeded: outcome === 'deadline',
      // A sink in a worker thread: what happened there, not the hand-over to the worker.
      ...deliveryCounters(channel.sink, channel.counters()),
    };
    // An enabled sink that is not there (not installed, failed to load) delivered nothing.
    if (channel.missing) {
      result.ok = false;
      error ??= this.#sinkStatus(channel).detail || `sink '${channel.name}' is not available`;
    }
    if (error !== undefined) result.error = error;
    return result;
  }

  #accept(runId: unknown, hook: SinkHook): string | undefined {
    if (!this.#dirty) this.#markDirty();
    if (this.#closed) {
      this.stats.afterShutdown++;
      for (const channel of this.#channels) channel.drop();
      this.#log.warn('after-shutdown', `${hook} after shutdown(): event dropped`);
      return undefined;
    }
    if (typeof runId === 'string' && runId.length > 0 && runId.length <= MAX_RUN_ID_LENGTH) {
      this.stats.received++;
      return runId;
    }
    const id = this.#normalizeRunId(runId);
    if (id === undefined) {
      this.stats.rejected++;
      this.#log.warn('invalid-run-id', `${hook}: ignoring an event without a usable run id`);
      return undefined;
    }
    this.stats.received++;
    return id;
  }

  #normalizeRunId(runId: unknown): string | undefined {
    let id: string;
    if (typeof runId === 'string') id = runId;
    else if (typeof runId === 'number' && Number.isFinite(runId)) id = String(runId);
    else if (typeof runId === 'bigint') id = runId.toString();
    else return undefined;
    if (id.length === 0) return undefined;
    if (id.length > MAX_RUN_ID_LENGTH) {
      // Keep huge ids unique without carrying megabytes through every sink.
      let hash = 0x811c9dc5;
      for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
      id = `${id.slice(0, 200)}…${(hash >>> 0).toString(16).padStart(8, '0')}`;
    }
    return id;
  }

  /**
   * @internal The sinks (bit i = the i-th sink added) with at least `threshold` events queued
   * or in progress: the sink worker tells the application's thread to hold their events.
   */
  busyMask(threshold: number): number {
    const channels = this.#channels;
    let mask = 0;
    for (let i = 0; i < channels.length && i < 31; i++)
      if (channels[i]!.pending >= threshold) mask |= 1 << i;
    return mask;
  }

  /**
   * @internal Hands an event that a coordinator already prepared (in another thread) to the
   * sinks whose bit is set in `mask` (bit i = the i-th sink added): no preparation, no
   * sampling, no end-of-run scores — those happened where the event was first accepted.
   */
  deliverPrepared(hook: SinkHook, runId: string, payload: unknown, mask: number): void {
    const channels = this.#channels;
    if (this.#closed) {
      this.stats.afterShutdown++;
      for (let i = 0; i < channels.length && i < 31; i++) if (mask & (1 << i)) channels[i]!.drop();
      return;
    }
    if (!this.#dirty) this.#markDirty();
    this.stats.received++;
    for (let i = 0; i < channels.length && i < 31; i++)
      if (mask & (1 << i)) channels[i]!.deliver(hook, runId, payload);
  }

  /**
   * Delivers to every sink; `remote` (a copy with content withheld) goes to the sinks that
   * are not local, when a content switch is off. Scores reach only sinks with `onScore`.
   */
  #fanOut(hook: SinkHook, runId: string, payload: unknown, remote?: unknown): void {
    const channels = this.#channels;
    const scores = hook === 'onScore';
    if (!this.#samplingActive && remote === undefined && !scores) {
      for (let i = 0; i < channels.length; i++) channels[i]!.deliver(hook, runId, payload);
      return;
    }
    const place = this.#samplingActive ? this.#samplePlace(hook, runId, payload) : 0;
    for (let i = 0; i < channels.length; i++) {
      const channel = channels[i]!;
      if (scores && !channel.scores) continue;
      if (place < channel.samplingRate)
        channel.deliver(hook, runId, remote === undefined || channel.local ? payload : remote);
      else if (!channel.inert) channel.sampledOut++;
    }
  }

  /** Where a run falls in [0, 1): from its trace id, so a whole trace shares one decision. */
  #samplePlace(hook: SinkHook, runId: string, payload: unknown): number {
    let place = this.#runSample.get(runId);
    // A score after its run ended: decide from the run's own trace id, remember nothing.
    if (place === undefined && hook === 'onScore') return samplePlace(traceIdFromRunId(runId));
    if (place === undefined) {
      let traceId: string | undefined;
      if (hook === 'onRunStart') {
        const start = payload as RunStart;
        traceId = start.traceparent ? parseTraceparent(start.traceparent)?.traceId : undefined;
        if (traceId === undefined && start.parentRunId !== undefined) {
          place = this.#runSample.get(start.parentRunId);
        }
      }
      if (place === undefined) place = samplePlace(traceId ?? traceIdFromRunId(runId));
      if (this.#runSample.size >= MAX_SAMPLED_RUNS) {
        const oldest = this.#runSample.keys().next().value;
        if (oldest !== undefined) this.#runSample.delete(oldest);
      }
      this.#runSample.set(runId, place);
    }
    if (hook === 'onRunEnd') this.#runSample.delete(runId);
    return place;
  }

  #prepareStart(start: unknown): RunStart {
    const s = isObject(start) ? start : {};
    const read = safeReader(s);
    const task = read('task');
    const environment = read('environment');
    const params = this.#sanitize(read('params'));
    let attributes = read('attributes');
    if (this.#attributes)
      attributes = { ...this.#attributes, ...(isObject(attributes) ? attributes : {}) };
    const prepared: RunStart = {
      task:
        typeof task === 'string'
          ? (this.#sanitize(task) as string)
          : task == null
            ? ''
            : String(this.#sanitize(task)),
      environment:
        typeof environment === 'string' && environment.length > 0
          ? (this.#sanitize(environment) as string)
          : environment == null
            ? 'default'
            : String(this.#sanitize(environment)),
      params: isObject(params) ? (params as JsonObject) : {},
    };
    const parent = read('parentRunId');
    if (parent !== undefined && parent !== null) {
      const parentId = this.#normalizeRunId(parent);
      if (parentId !== undefined) prepared.parentRunId = parentId;
    }
    const traceparent = read('traceparent');
    if (traceparent !== undefined && traceparent !== null) {
      if (parseTraceparent(traceparent))
        prepared.traceparent = (traceparent as string).trim().toLowerCase();
      else this.#log.warn('invalid-traceparent', 'onRunStart: ignoring an invalid traceparent');
    }
    if (attributes !== undefined && attributes !== null) {
      const clean = this.#sanitize(attributes);
      if (isObject(clean) && Object.keys(clean).length > 0) prepared.attributes = clean;
    }
    const startedAt = read('startedAt');
    prepared.startedAt = isoOrNow(startedAt);
    for (const key of ['sessionId', 'userId'] as const) {
      const value = read(key);
      if (typeof value === 'string' && value.length > 0)
        prepared[key] = (this.#sanitize(value) as string).slice(0, 200);
      else if (typeof value === 'number' && Number.isFinite(value)) prepared[key] = String(value);
    }
    const tags = arrayCopy(read('tags'));
    if (tags) {
      const clean = [
        ...new Set(
          tags
            .filter((t): t is string => typeof t === 'string' && t.trim().length > 0)
            .map((t) => (this.#sanitize(t.trim()) as string).slice(0, 200)),
        ),
      ].slice(0, 100);
      if (clean.length > 0) prepared.tags = clean;
    }
    return prepared;
  }

  #prepareScore(score: unknown): ScoreRecord | undefined {
    const s = isObject(score) ? score : {};
    const read = safeReader(s);
    const name = read('name');
    const value = read('value');
    if (typeof name !== 'string' || name.trim() === '') {
      this.#log.warn('score:name', 'onScore: ignoring a score without a name');
      return undefined;
    }
    const valid =
      (typeof value === 'number' && Number.isFinite(value)) ||
      typeof value === 'string' ||
      typeof value === 'boolean';
    if (!valid) {
      this.#log.warn(
        'score:value',
        `onScore: score '${name}' needs a finite number, a string or a boolean`,
      );
      return undefined;
    }
    const prepared: ScoreRecord = {
      name: (this.#sanitize(name.trim()) as string).slice(0, 200),
      value:
        typeof value === 'string' ? (this.#sanitize(value) as string) : (value as number | boolean),
      kind: read('kind') === 'feedback' ? 'feedback' : 'score',
      at: isoOrNow(read('at')),
    };
    const comment = read('comment');
    if (typeof comment === 'string' && comment.length > 0)
      prepared.comment = this.#sanitize(comment) as string;
    const step = read('step');
    if (typeof step === 'number' && Number.isSafeInteger(step)) prepared.step = step;
    const source = read('source');
    if (typeof source === 'string' && source.length > 0)
      prepared.source = (this.#sanitize(source) as string).slice(0, 200);
    return prepared;
  }

  #prepareEvent(event: unknown, stepNumber: number | undefined): StepEvent {
    const clean = this.#sanitize(event);
    let out: StepEvent = isObject(clean)
      ? (clean as StepEvent)
      : clean == null
        ? {}
        : { value: clean };
    // Not `out.step = …`: adding a key to the sanitizer's spread clone takes V8's slow path.
    if (stepNumber !== undefined && typeof out.step !== 'number')
      out = Object.assign({}, out, { step: stepNumber });
    if (this.#pricing && out.usage !== undefined) priceStepUsage(out);
    return out;
  }

  #prepareEnd(end: unknown): RunEnd {
    const e = isObject(end) ? end : {};
    let result: unknown;
    let runPath: unknown;
    try {
      result = e.result;
      runPath = e.runPath;
    } catch {
      // throwing getters: keep what we have
    }
    const clean = this.#sanitize(result);
    const prepared: RunResult = isObject(clean) ? (clean as RunResult) : {};
    if (typeof prepared.finishedAt !== 'string') prepared.finishedAt = new Date().toISOString();
    const out: RunEnd = { result: prepared };
    if (typeof runPath === 'string' && runPath.length > 0)
      out.runPath = this.#sanitize(runPath) as string;
    else if (runPath && typeof (runPath as { toString?: unknown }).toString === 'function') {
      let text: unknown;
      try {
        text = this.#sanitize(String(runPath));
      } catch {
        // a toString that throws: no run path
      }
      if (typeof text === 'string' && text.length > 0 && text !== '[object Object]')
        out.runPath = text;
    }
    return out;
  }
}

function isoOrNow(value: unknown): string {
  if (typeof value === 'string') {
    const time = Date.parse(value);
    if (Number.isFinite(time)) return new Date(time).toISOString();
  } else if (typeof value === 'number' && Number.isFinite(value)) {
    return new Date(value).toISOString();
  } else if (value instanceof Date) {
    try {
      // A Proxy of a Date passes instanceof but throws on getTime().
      const time = value.getTime();
      if (Number.isFinite(time)) return new Date(time).toISOString();
    } catch {
      // fall through: now
    }
  }
  return new Date().toISOString();
}

/** A plain copy of a caller's array (a Proxy's traps may throw), or undefined. */
function arrayCopy(value: unknown): unknown[] | undefined {
  try {
    return Array.isArray(value) ? Array.from(value as unknown[]) : undefined;
  } catch {
    return undefined;
  }
}

/** Shape check (never `instanceof` across packages). */
export function isSinkLike(value: unknown): value is RLMObservabilitySink {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    const v = value as Record<string, unknown>;
    return (
      typeof v.name === 'string' &&
      typeof v.status === 'function' &&
      typeof v.onRunStart === 'function' &&
      typeof v.onStep === 'function' &&
      typeof v.onRunEnd === 'function'
    );
  } catch {
    return false;
  }
}
