/**
 * Config errors name the file, the key and the fix. A broken config fails at load; it never
 * half-starts.
 */

/** An error in an rlm-obs config file, sink entry or environment. */
export class RlmObsConfigError extends Error {
  override readonly name = 'RlmObsConfigError';
  /** The config file, when there is one. */
  readonly file: string | undefined;
  /** The key path inside the config, for example `sinks[1].options.endpoint`. */
  readonly key: string | undefined;

  constructor(
    message: string,
    details: { file?: string | undefined; key?: string | undefined; cause?: unknown } = {},
  ) {
    const where = [details.file, details.key].filter(Boolean).join(', ');
    super(
      where ? `${message} (${where})` : message,
      details.cause !== undefined ? { cause: details.cause } : undefined,
    );
    this.file = details.file;
    this.key = details.key;
  }
}

/** The closest of `candidates` to `word`, if it is close enough to be a likely typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  if (bestDistance <= Math.max(2, Math.floor(word.length / 3))) return best;
  // A longer or shorter spelling of a name (`directory` for `dir`, `endpointUrl` for `endpoint`).
  const lower = word.toLowerCase();
  return candidates.find((candidate) => {
    const c = candidate.toLowerCase();
    return c.length >= 3 && lower.length >= 3 && (lower.startsWith(c) || c.startsWith(lower));
  });
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
