/**
 * Auth-failure cooldown for remote sinks: after a 401/403 the sink pauses (one minute, then
 * doubling up to fifteen, each with ±20% jitter), counts what it skips, says so in its status,
 * and tries again when the pause is over; one success ends the cooldown. Instead of hammering
 * a backend that refuses the credentials with every step.
 */

/** Options of {@link AuthCooldown}. */
export interface AuthCooldownOptions {
  /** The first pause. @defaultValue `60000` */
  initialMs?: number;
  /** The longest pause. @defaultValue `900000` */
  maxMs?: number;
  /** ± share of each pause, so many processes don't retry in step. @defaultValue `0.2` */
  jitter?: number;
  /** For tests. */
  now?: () => number;
  random?: () => number;
}

/** Whether an HTTP status (or a gRPC code, with `grpc: true`) means "bad credentials". */
export function isAuthFailure(status: unknown, grpc = false): boolean {
  if (typeof status !== 'number') return false;
  // gRPC: 16 UNAUTHENTICATED, 7 PERMISSION_DENIED.
  return grpc ? status === 16 || status === 7 : status === 401 || status === 403;
}

/** One sink's cooldown state. */
export class AuthCooldown {
  /** Events skipped while paused. */
  skipped = 0;
  /** Auth failures seen. */
  failures = 0;
  #until = 0;
  #streak = 0;
  #reported = 0;
  #lastStatus: number | undefined;
  readonly #initial: number;
  readonly #max: number;
  readonly #jitter: number;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(options: AuthCooldownOptions = {}) {
    this.#initial = options.initialMs ?? 60_000;
    this.#max = options.maxMs ?? 900_000;
    this.#jitter = options.jitter ?? 0.2;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** The sink is paused: skip the work (and call {@link skip}). */
  get paused(): boolean {
    return this.#now() < this.#until;
  }

  /** When the pause ends (epoch ms), or 0. */
  get until(): number {
    return this.paused ? this.#until : 0;
  }

  /** Counts an event skipped during the pause. Returns `true` for convenience. */
  skip(count = 1): true {
    this.skipped += count;
    return true;
  }

  /** Records an auth failure (HTTP 401/403) and starts or lengthens the pause. */
  fail(status?: number): void {
    this.failures++;
    this.#streak++;
    this.#lastStatus = status;
    const base = Math.min(this.#max, this.#initial * 2 ** (this.#streak - 1));
    const spread = base * this.#jitter * (this.#random() * 2 - 1);
    this.#until =
      this.#now() + Math.max(0, Math.min(this.#max * (1 + this.#jitter), base + spread));
  }

  /**
   * A response refused the credentials. While a pause runs, such a response answers a request
   * sent before it began and changes nothing; otherwise it starts the next pause (as
   * {@link fail}). Returns whether it started one.
   */
  refused(status?: number): boolean {
    if (this.paused) return false;
    this.fail(status);
    return true;
  }

  /** Events skipped since the last call: what a flush report owes. */
  takeSkipped(): number {
    const skipped = this.skipped - this.#reported;
    this.#reported = this.skipped;
    return skipped;
  }

  /** A request went through: credentials work again. */
  succeed(): void {
    this.#streak = 0;
    this.#until = 0;
  }

  /** For status and doctor; empty when not paused and never failed. */
  detail(): string {
    if (this.paused) {
      const seconds = Math.ceil((this.#until - this.#now()) / 1000);
      return `auth failed (HTTP ${this.#lastStatus ?? '401/403'}): paused for ${seconds}s, ${this.skipped} events skipped; check the credentials`;
    }
    if (this.#streak > 0)
      return `auth failed (HTTP ${this.#lastStatus ?? '401/403'}) ${this.#streak}x; retrying`;
    return '';
  }

  /** Counters for `status()`. */
  stats(): { authFailures: number; authSkipped: number; authPausedUntil: string | null } {
    return {
      authFailures: this.failures,
      authSkipped: this.skipped,
      authPausedUntil: this.paused ? new Date(this.#until).toISOString() : null,
    };
  }
}
