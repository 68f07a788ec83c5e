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

/**
 * Copies `source`'s own enumerable keys into `target` (a later copy wins) and returns
 * `target`: `assignOwn(assignOwn({}, a), b)` is `{ ...a, ...b }` for hot paths. In Node 20's V8
 * an object made by a spread that then gets more keys takes a new shape on every call
 * (~0.5 µs a key, and the shapes are garbage); a plain object filled key by key does not
 * (~60 ns). A key `__proto__` stays an own property, as with a spread.
 */
export function assignOwn(
  target: Record<string, unknown>,
  source: object,
): Record<string, unknown> {
  for (const key of Object.keys(source)) {
    const value = (source as Record<string, unknown>)[key];
    if (key === '__proto__')
      Object.defineProperty(target, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else target[key] = value;
  }
  return target;
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
