/** Hook calls run inline (not waiting for the drain) once this many wait. */
const DEFERRED_HOOKS_LIMIT = 1024;

/**
 * Runs a sink's hooks off the caller's path, in order, so that they never throw into the
 * coordinator whatever the input (throwing getters, Proxies), counting what it caught.
 *
 * `run(fn)` only queues the call with the time it came (well under a microsecond for the
 * caller); the queue is drained on the next turn of the event loop (right away, not when some
 * timer next wakes the loop), inline once 1,024 calls
 * wait (a caller that never yields keeps bounded memory), and by `drain()` — which a sink
 * calls first in `forceFlush`, `shutdown` and lookups such as `getTraceId`. During the drain
 * `now()` is the time the hook was called, so what the sink records keeps the real times.
 */
export class DeferredHooks {
  errors = 0;
  lastError: string | undefined;
  readonly #onError: (() => void) | undefined;
  readonly #afterDrain: (() => void) | undefined;
  #queue: (() => void)[] = [];
  #times: number[] = [];
  #scheduled = false;
  #at: number | undefined;

  /**
   * `onError` undoes half-done work (for example ids chosen for a span never started);
   * `afterDrain` runs after a drain that ran calls (for example to start an upload).
   */
  constructor(onError?: () => void, afterDrain?: () => void) {
    this.#onError = onError;
    this.#afterDrain = afterDrain;
  }

  /**
   * For a sink's `status()`: `bad_events` and `last_bad_event` (through `scrub`) once a hook
   * call was refused, else nothing.
   */
  problems(scrub: (text: string) => string): { bad_events?: number; last_bad_event?: string } {
    if (this.errors === 0) return {};
    if (this.lastError === undefined) return { bad_events: this.errors };
    return { bad_events: this.errors, last_bad_event: scrub(this.lastError) };
  }

  /** Queues a hook call. */
  run(fn: () => void): void {
    this.#queue.push(fn);
    this.#times.push(Date.now());
    if (this.#queue.length >= DEFERRED_HOOKS_LIMIT) this.drain();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      // Referenced: an unreferenced immediate waits until something else wakes the event loop
      // (a timer seconds away), while a sink's flush or backpressure may be waiting for these
      // calls. It never keeps a process alive: it runs on the next turn and is gone.
      setImmediate(this.#task);
    }
  }

  readonly #task = (): void => {
    this.#scheduled = false;
    this.drain();
  };

  /** Hook calls waiting for the drain. */
  get pending(): number {
    return this.#queue.length;
  }

  /** The time of the hook call being run (epoch ms), or now outside a drain. */
  now(): number {
    return this.#at ?? Date.now();
  }

  /** Runs every queued hook call, in order (and then `afterDrain`). */
  drain(): void {
    if (this.#queue.length === 0) return;
    while (this.#queue.length > 0) {
      const queue = this.#queue;
      const times = this.#times;
      this.#queue = [];
      this.#times = [];
      for (let i = 0; i < queue.length; i++) {
        this.#at = times[i];
        try {
          queue[i]!();
        } catch (error) {
          this.#onError?.();
          this.errors++;
          this.lastError = error instanceof Error ? error.message : String(error);
        }
      }
      this.#at = undefined;
    }
    this.#afterDrain?.();
  }
}
