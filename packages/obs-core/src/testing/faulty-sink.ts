import {
  type RLMObservabilitySink,
  SINK_SPECIFICATION_VERSION,
  type SinkHook,
  type SinkStatus,
} from '../contract.js';

/** How a {@link FaultySink} misbehaves. */
export type FaultMode = 'ok' | 'throw' | 'reject' | 'hang' | 'delay';

/** Knobs of {@link FaultySink}. */
export interface FaultySinkOptions {
  /** @defaultValue `'faulty'` */
  name?: string;
  /** What every affected hook does. @defaultValue `'throw'` */
  mode?: FaultMode;
  /** With `mode: 'delay'`: how long each hook's promise takes. @defaultValue `100` */
  delayMs?: number;
  /** Which hooks misbehave. @defaultValue all three */
  hooks?: SinkHook[];
  /** Misbehave only on every n-th call (1 = always). @defaultValue `1` */
  every?: number;
  /** What `forceFlush()`/`shutdown()` do. @defaultValue `'ok'` */
  flush?: 'ok' | 'reject' | 'hang';
  /** Make `status()` throw. @defaultValue `false` */
  statusThrows?: boolean;
}

/**
 * A sink that fails on purpose: throws, rejects, never settles, or is slow. Use it to check
 * that everything else keeps working.
 *
 * @example
 * ```ts
 * const hung = new FaultySink({ name: 'hung', mode: 'hang' });
 * const obs = RLMObservability.withSinks([hung, memory]);
 * ```
 */
export class FaultySink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  /** Calls received per hook. */
  readonly calls: Record<SinkHook, number> = { onRunStart: 0, onStep: 0, onRunEnd: 0, onScore: 0 };
  /** Calls that completed successfully (for 'delay': the promise resolved). */
  completed = 0;
  readonly #options: Required<Omit<FaultySinkOptions, 'name'>>;
  #n = 0;

  constructor(options: FaultySinkOptions = {}) {
    this.name = options.name ?? 'faulty';
    this.#options = {
      mode: options.mode ?? 'throw',
      delayMs: options.delayMs ?? 100,
      hooks: options.hooks ?? ['onRunStart', 'onStep', 'onRunEnd'],
      every: Math.max(1, options.every ?? 1),
      flush: options.flush ?? 'ok',
      statusThrows: options.statusThrows ?? false,
    };
  }

  status(): SinkStatus {
    if (this.#options.statusThrows) throw new Error('status exploded');
    return {
      name: this.name,
      enabled: true,
      available: true,
      detail: `mode: ${this.#options.mode}`,
    };
  }

  onRunStart(): void | Promise<void> {
    return this.#act('onRunStart');
  }

  onStep(): void | Promise<void> {
    return this.#act('onStep');
  }

  onRunEnd(): void | Promise<void> {
    return this.#act('onRunEnd');
  }

  forceFlush(): Promise<void> {
    return this.#finish();
  }

  shutdown(): Promise<void> {
    return this.#finish();
  }

  #finish(): Promise<void> {
    switch (this.#options.flush) {
      case 'reject':
        return Promise.reject(new Error('flush failed on purpose'));
      case 'hang':
        return new Promise<void>(() => {});
      default:
        return Promise.resolve();
    }
  }

  #act(hook: SinkHook): void | Promise<void> {
    this.calls[hook]++;
    const n = ++this.#n;
    const affected = this.#options.hooks.includes(hook) && n % this.#options.every === 0;
    if (!affected) {
      this.completed++;
      return;
    }
    switch (this.#options.mode) {
      case 'throw':
        throw new Error(`${hook} failed on purpose`);
      case 'reject':
        return Promise.reject(new Error(`${hook} rejected on purpose`));
      case 'hang':
        return new Promise<void>(() => {});
      case 'delay':
        return new Promise<void>((resolve) => {
          setTimeout(() => {
            this.completed++;
            resolve();
          }, this.#options.delayMs);
        });
      default:
        this.completed++;
        return;
    }
  }
}
