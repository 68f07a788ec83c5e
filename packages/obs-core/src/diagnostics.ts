/**
 * Where rlm-obs reports its own problems. One line per problem and sink, then silence for a
 * while with a count — a broken backend must not flood the host's logs.
 */

/** Receives rlm-obs's own warnings. */
export interface DiagnosticLogger {
  warn(message: string): void;
}

/**
 * The message of an error (or the text of anything thrown), for a diagnostic; never throws
 * (a throwing getter or `toString` reads as `unprintable error`).
 */
export function errorText(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'unprintable error';
  }
}

/** Writes `[rlm-obs] message` to stderr. */
export const stderrLogger: DiagnosticLogger = {
  warn(message) {
    try {
      process.stderr.write(`[rlm-obs] ${message}\n`);
    } catch {
      // stderr closed: nothing sensible left to do
    }
  },
};

/** A logger that drops everything. */
export const silentLogger: DiagnosticLogger = { warn() {} };

/**
 * Logs each key's first message at once, then at most one summary per `intervalMs` with the
 * number of messages suppressed in between.
 */
export class RateLimitedLogger {
  readonly #logger: DiagnosticLogger;
  readonly #intervalMs: number;
  readonly #scrub: (text: string) => string;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(logger: DiagnosticLogger, scrub: (text: string) => string, intervalMs = 60_000) {
    this.#logger = logger;
    this.#scrub = scrub;
    this.#intervalMs = intervalMs;
  }

  warn(key: string, message: string): void {
    const now = Date.now();
    const entry = this.#last.get(key);
    if (entry && now - entry.at < this.#intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    if (this.#last.size > 1000) this.#last.clear();
    this.#last.set(key, { at: now, suppressed: 0 });
    const tail = suppressed > 0 ? ` (${suppressed} similar messages suppressed)` : '';
    try {
      this.#logger.warn(this.#scrub(message) + tail);
    } catch {
      // a throwing logger must not break delivery
    }
  }
}
