/**
 * Reading payloads defensively: what every sink does with a `RunStart`, `StepRecord` or
 * `RunEnd` that may come from the coordinator (clean) or straight from a caller (anything).
 */

/** A plain object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value if it is a finite number, else `undefined`. */
export function finiteNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The value if it is a string, else `undefined`. */
export function stringValue(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Epoch milliseconds from a number or an ISO date string, else `undefined`. */
export function epochMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
  }
  return undefined;
}

/**
 * A URL without credentials, query or fragment — safe for a status `detail`.
 *
 * @example
 * ```ts
 * safeUrl('https://user:pw@host:4318/v1/traces?token=x'); // 'https://host:4318/v1/traces'
 * ```
 */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//').replace(/[?#].*$/, '');
  }
}
