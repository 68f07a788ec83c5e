/**
 * One sink's delivery lane (DESIGN.md section 4, items 1-3): hooks are called synchronously
 * in order; when a hook returns a promise, later events wait in this lane's bounded queue
 * until it settles, so order is kept per sink and the caller is never blocked. A throw, a
 * rejection or a timeout is counted and logged (rate-limited), never raised.
 */
import { isPlaceholderSink } from './config/placeholder-sink.js';
import type { RLMObservabilitySink, SinkHook } from './contract.js';
import type { RateLimitedLogger } from './diagnostics.js';

/** Per-sink delivery counters, as `status()` reports them under `counters`. */
export interface SinkCounters {
  /** Events the sink accepted (its hook returned, or its promise resolved). */
  delivered: number;
  /** Events whose hook threw, rejected or timed out. */
  failed: number;
  /** Events dropped without a call: queue full, sink removed or coordinator shut down. */
  dropped: number;
  /** Events queued or in flight right now. */
  pending: number;
  /** Of `failed`, how many timed out. */
  timedOut: number;
  /** Events not sent because their run was sampled out for this sink. */
  sampledOut: number;
  /** The last error, secrets removed. */
  lastError?: string;
  /** When the last error happened (ISO). */
  lastErrorAt?: string;
}

/** Bounds of a delivery lane. */
export interface DeliveryOptions {
  /** Events held while the sink works on a promise; more are dropped and counted. */
  maxQueueSize: number;
  /** How long one hook's promise may take before it counts as failed. */
  callTimeoutMs: number;
}

/** What `flush()`/`shutdown()` report for one sink. */
export interface SinkFlushResult extends SinkCounters {
  name: string;
  /**
   * The queue drained and the sink's flush finished in time without error. A disabled
   * placeholder is `ok` — it has nothing to deliver; an enabled stand-in for a sink that is
   * not installed or failed to load (`createPlaceholderSink`) is not, with its status detail
   * as `error`.
   */
  ok: boolean;
  /** The deadline passed before the sink finished. */
  timedOut: number;
  deadlineExceeded: boolean;
  error?: string;
}

/** Node's timers take at most 2^31 - 1 ms; longer (and infinite) waits get no timer. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

interface Pending {
  hook: SinkHook;
  runId: string;
  payload: unknown;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function errorText(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return String(error);
  } catch {
    return 'unprintable error';
  }
}

/** @internal */
export class SinkChannel {
  readonly sink: RLMObservabilitySink;
  readonly name: string;
  delivered = 0;
  failed = 0;
  dropped = 0;
  timedOut = 0;
  sampledOut = 0;
  /** The share of runs this sink keeps (1 = all). */
  samplingRate = 1;
  /** The sink writes only to this machine: content switches do not apply to it. */
  readonly local: boolean;
  /** The sink implements the optional `onScore`. */
  readonly scores: boolean;
  /** The sink records nothing (a placeholder): it gets no events, its counters stay at 0. */
  readonly inert: boolean;
  /** An enabled placeholder: a sink that should record but cannot (not installed, failed to load). */
  readonly missing: boolean;
  lastError: string | undefined;
  lastErrorAt: string | undefined;

  readonly #options: DeliveryOptions;
  readonly #log: RateLimitedLogger;
  readonly #scrub: (text: string) => string;
  #queue: Pending[] = [];
  #head = 0;
  #busy = false;
  #token = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #idle: Array<() => void> = [];

  constructor(
    sink: RLMObservabilitySink,
    options: DeliveryOptions,
    log: RateLimitedLogger,
    scrub: (text: string) => string,
  ) {
    this.sink = sink;
    this.name = safeName(sink);
    let local = false;
    let scores = false;
    try {
      local = sink.local === true;
      scores = typeof sink.onScore === 'function';
    } catch {
      // a throwing getter: treat the sink as remote and without scores
    }
    this.local = local;
    this.scores = scores;
    // Only a placeholder is known to record nothing, for good. A sink whose status says
    // `enabled: false` now may be enabled later (a CompositeSink that gets its children after
    // it was added): it gets every event.
    const placeholder = isPlaceholderSink(sink);
    let enabled = true;
    if (placeholder) {
      try {
        enabled = sink.status().enabled !== false;
      } catch {
        // a throwing status(): count it as enabled (the report then says it is missing)
      }
    }
    this.inert = placeholder;
    this.missing = placeholder && enabled;
    this.#options = options;
    this.#log = log;
    this.#scrub = scrub;
  }

  get pending(): number {
    return this.#queue.length - this.#head + (this.#busy ? 1 : 0);
  }

  counters(): SinkCounters {
    const counters: SinkCounters = {
      delivered: this.delivered,
      failed: this.failed,
      dropped: this.dropped,
      pending: this.pending,
      timedOut: this.timedOut,
      sampledOut: this.sampledOut,
    };
    if (this.lastError !== undefined) counters.lastError = this.lastError;
    if (this.lastErrorAt !== undefined) counters.lastErrorAt = this.lastErrorAt;
    return counters;
  }

  deliver(hook: SinkHook, runId: string, payload: unknown): void {
    if (this.inert) return;
    if (this.#busy) {
      if (this.#queue.length - this.#head >= this.#options.maxQueueSize) {
        this.dropped++;
        this.#log.warn(
          `${this.name}:queue-full`,
          `sink '${this.name}' is behind: queue full (${this.#options.maxQueueSize}), dropping events`,
        );
        return;
      }
      this.#queue.push({ hook, runId, payload });
      return;
    }
    this.#invoke(hook, runId, payload);
    // Events the hook itself caused (a sink that records through the coordinator) waited in
    // the queue: deliver them now, in order, unless the hook went async.
    if (!this.#busy && (this.#head < this.#queue.length || this.#idle.length > 0)) this.#drain();
  }

  /** Counts an event that was not even queued (coordinator shut down, sink removed). */
  drop(): void {
    if (!this.inert) this.dropped++;
  }

  /** Resolves when nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (!this.#busy && this.#queue.length === this.#head) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Drops whatever is still queued and abandons the call in flight (used at a deadline). */
  abandon(): void {
    const queued = this.#queue.length - this.#head;
    if (queued > 0) this.dropped += queued;
    this.#queue = [];
    this.#head = 0;
    if (this.#busy) {
      this.#fail('shutdown', new Error('abandoned in flight at the shutdown deadline'));
      this.#busy = false;
      this.#token++;
      if (this.#timer) clearTimeout(this.#timer);
    }
    this.#resolveIdle();
  }

  /**
   * Calls one hook. The lane counts as busy while the hook runs, so an event the hook itself
   * causes waits its turn instead of overtaking it; it stays busy while a returned promise is
   * pending.
   */
  #invoke(hook: SinkHook, runId: string, payload: unknown): void {
    let result: unknown;
    this.#busy = true;
    try {
      result = (this.sink[hook] as (id: string, p: unknown) => unknown)(runId, payload);
    } catch (error) {
      this.#busy = false;
      this.#fail(hook, error);
      return;
    }
    let thenable = false;
    try {
      thenable = isThenable(result);
    } catch (error) {
      this.#busy = false;
      this.#fail(hook, error);
      return;
    }
    if (!thenable) {
      this.#busy = false;
      this.delivered++;
      return;
    }
    const token = ++this.#token;
    const ms = this.#options.callTimeoutMs;
    // setTimeout fires at once for delays of 2^31 ms or more (and Infinity): no timer then.
    const timer =
      ms < MAX_TIMER_MS
        ? setTimeout(() => {
            if (token !== this.#token) return;
            this.timedOut++;
            this.#fail(hook, new Error(`${hook} did not settle within ${ms} ms`));
            this.#settle();
          }, ms)
        : undefined;
    timer?.unref?.();
    this.#timer = timer;
    try {
      (result as PromiseLike<unknown>).then(
        () => {
          if (token !== this.#token) return;
          clearTimeout(timer);
          this.delivered++;
          this.#settle();
        },
        (error: unknown) => {
          if (token !== this.#token) return;
          clearTimeout(timer);
          this.#fail(hook, error);
          this.#settle();
        },
      );
    } catch (error) {
      clearTimeout(timer);
      this.#fail(hook, error);
      this.#settle();
    }
  }

  #settle(): void {
    this.#busy = false;
    this.#token++;
    this.#timer = undefined;
    this.#drain();
  }

  #drain(): void {
    // Deliver what waited, synchronously, until a hook goes async again.
    while (!this.#busy && this.#head < this.#queue.length) {
      const next = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Pending;
      this.#invoke(next.hook, next.runId, next.payload);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (!this.#busy) this.#resolveIdle();
  }

  #resolveIdle(): void {
    if (this.#idle.length === 0) return;
    const waiters = this.#idle;
    this.#idle = [];
    for (const resolve of waiters) resolve();
  }

  #fail(hook: string, error: unknown): void {
    this.failed++;
    const text = this.#scrub(errorText(error)).slice(0, 500);
    this.lastError = `${hook}: ${text}`;
    this.lastErrorAt = new Date().toISOString();
    this.#log.warn(`${this.name}:${hook}`, `sink '${this.name}' ${hook} failed: ${text}`);
  }
}

function safeName(sink: RLMObservabilitySink): string {
  try {
    const name = sink.name;
    return typeof name === 'string' && name.length > 0 ? name : 'unnamed-sink';
  } catch {
    return 'unnamed-sink';
  }
}
