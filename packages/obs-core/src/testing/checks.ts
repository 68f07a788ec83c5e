/**
 * The checks behind `describeSinkConformance` that need no test runner: payloads a sink must
 * not change, hooks that must not block the caller, and a `status()` that must not show a
 * credential.
 */
import type { RLMObservabilitySink, SinkHook } from '../contract.js';
import { createRedactor } from '../redact.js';

/** A hook's synchronous part may take this long, as the median over the suite's calls. */
export const MAX_MEDIAN_HOOK_MS = 10;

const HOOKS: ReadonlySet<string> = new Set<SinkHook>([
  'onRunStart',
  'onStep',
  'onRunEnd',
  'onScore',
]);

interface Watched {
  hook: string;
  payload: unknown;
  before: unknown;
}

/** A failure of the conformance suite, with a message that says what to fix. */
export class ConformanceError extends Error {
  override name = 'ConformanceError';
}

/**
 * Calls a sink's hooks for the suite: times the synchronous part of each call, and keeps a
 * copy of each payload to find out later whether the sink changed it.
 */
export class HookWatch {
  /** Milliseconds each synchronous hook call took. */
  readonly timings: number[] = [];
  #watched: Watched[] = [];

  /** Calls `sink[hook](runId, payload)`; throws what the hook throws. */
  invoke(sink: RLMObservabilitySink, hook: SinkHook, runId: unknown, payload: unknown): unknown {
    const before = copyOf(payload);
    if (before !== UNCOPYABLE) this.#watched.push({ hook, payload, before });
    const fn = (sink as unknown as Record<string, (...args: unknown[]) => unknown>)[hook]!;
    const started = performance.now();
    try {
      return fn.call(sink, runId, payload);
    } finally {
      this.timings.push(performance.now() - started);
    }
  }

  /**
   * The sink, seen through the watch: a coordinator given this calls the hooks through
   * {@link HookWatch.invoke}. Everything else is the sink's own.
   */
  wrap<S extends RLMObservabilitySink>(sink: S): S {
    return new Proxy(sink, {
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof property === 'string' && HOOKS.has(property) && typeof value === 'function')
          return (runId: unknown, payload: unknown) =>
            this.invoke(target, property as SinkHook, runId, payload);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /**
   * Throws a {@link ConformanceError} naming the hook and the path when a payload changed:
   * any payload the sink was given, or with `last` only the one of the latest call.
   */
  assertUnchanged(when: string, last = false): void {
    const watched = last ? this.#watched.slice(-1) : this.#watched;
    for (const { hook, payload, before } of watched) {
      const change = changeIn(before, payload);
      if (change !== undefined)
        throw new ConformanceError(
          `${hook} changed its payload (${change}), seen ${when}. Payloads are shared by every ` +
            'sink of a coordinator (the local files too): read them, keep references if you ' +
            'like, but copy before changing anything.',
        );
    }
  }

  /** Throws a {@link ConformanceError} when the median synchronous hook call is too slow. */
  assertFast(boundMs = MAX_MEDIAN_HOOK_MS): void {
    const m = median(this.timings);
    if (m > boundMs)
      throw new ConformanceError(
        `hooks block the caller: the median hook call took ${m.toFixed(1)} ms over ` +
          `${this.timings.length} calls (bound: ${boundMs} ms). Hooks run on the agent's own ` +
          'thread: queue the work and do I/O and heavy serializing asynchronously ' +
          '(DeferredHooks does the queueing), then finish it in forceFlush().',
      );
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const UNCOPYABLE = Symbol('uncopyable');

/** A deep copy, or {@link UNCOPYABLE} for values the suite cannot compare (functions, proxies). */
function copyOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  try {
    return structuredClone(value);
  } catch {
    return UNCOPYABLE;
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (IDENTIFIER.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

function preview(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null)
    return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** Where `after` differs from the copy `before`, or `undefined` when it does not. */
export function changeIn(before: unknown, after: unknown): string | undefined {
  try {
    return diff(before, after, '', new Map());
  } catch {
    return undefined; // a getter or a proxy of the suite's own hostile payloads
  }
}

function diff(
  before: unknown,
  after: unknown,
  path: string,
  seen: Map<object, unknown>,
): string | undefined {
  if (Object.is(before, after)) return undefined;
  const where = path || 'the payload';
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null;
  if (!isObject(before) || !isObject(after))
    return `${where} is ${preview(after)}, was ${preview(before)}`;
  if (seen.get(before) === after) return undefined;
  seen.set(before, after);
  if (Array.isArray(before) !== Array.isArray(after))
    return `${where} is ${preview(after)}, was ${preview(before)}`;
  if (before instanceof Date || after instanceof Date) {
    const a = before instanceof Date ? before.getTime() : Number.NaN;
    const b = after instanceof Date ? after.getTime() : Number.NaN;
    return Object.is(a, b) ? undefined : `${where} changed`;
  }
  const own = Object.prototype.hasOwnProperty;
  for (const key of Object.keys(before)) {
    const at = join(path, Array.isArray(before) && /^\d+$/.test(key) ? Number(key) : key);
    if (!own.call(after, key)) return `${at} was deleted`;
    const change = diff(before[key], after[key], at, seen);
    if (change !== undefined) return change;
  }
  for (const key of Object.keys(after)) {
    if (!own.call(before, key))
      return `${join(path, Array.isArray(after) && /^\d+$/.test(key) ? Number(key) : key)} was added`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Secrets in status()

/** Masks a secret may be replaced by: `***`, `[REDACTED]`, `<redacted>`, `xxxx`, `…`. */
const MASK = /^(?:\*+|x{3,}|\[redacted\]|%5Bredacted%5D|<redacted>|redacted|…|\.\.\.)$/i;
const isMask = (value: string): boolean => MASK.test(value);
/** Credential-shaped: no space, 8+ characters with a digit or a base64 sign, or 20+ letters. */
const CREDENTIAL =
  /^(?:(?=[A-Za-z0-9._~+/=:-]*[0-9+/=])[A-Za-z0-9._~+/=:-]{8,}|[A-Za-z]{20}[A-Za-z0-9._~+/=:-]*)$/;

const URL_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*:([^\s/?#@]+)@/gi;
const ASSIGNED_SECRET =
  /(?:^|[?&\s;,("'])((?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|id[_-]?token|refresh[_-]?token|token|secret|client[_-]?secret|secret[_-]?key|password|passwd|pwd)=)([^&#\s"',;)]+)/gi;
const AUTH_SCHEME =
  /\b(?:Bearer|Basic)\s+((?=[A-Za-z0-9._~+/=-]*[0-9+/=])[A-Za-z0-9._~+/=-]{8,}|[A-Za-z]{20}[A-Za-z0-9._~+/=-]*)/gi;
/** Key shapes of common vendors (OpenAI/Anthropic, Stripe, LangSmith, Logfire, GitHub, AWS, Slack). */
const VENDOR_KEY =
  /\b(?:sk-[A-Za-z0-9_-]{8,}|sk_(?:live|test)_[A-Za-z0-9]{8,}|lsv2_[A-Za-z0-9_]{8,}|pylf_v\d+_[A-Za-z0-9_-]{8,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,})/;

const keyNames = createRedactor({ env: {}, urlCredentials: false });

/** What in one string looks like a credential, or `undefined`. */
export function credentialIn(text: string, key?: string): string | undefined {
  for (const match of text.matchAll(URL_PASSWORD)) {
    let password = match[1]!;
    try {
      password = decodeURIComponent(password);
    } catch {
      // keep it as it is
    }
    if (!isMask(password)) return 'a password in a URL (scheme://user:password@host)';
  }
  for (const match of text.matchAll(ASSIGNED_SECRET)) {
    const value = match[2]!;
    if (value.length >= 3 && !isMask(value)) return `a secret value (${match[1]}…)`;
  }
  for (const match of text.matchAll(AUTH_SCHEME)) {
    if (!isMask(match[1]!)) return 'an Authorization credential (Bearer/Basic …)';
  }
  const vendor = VENDOR_KEY.exec(text);
  if (vendor) return `an API key (${vendor[0].slice(0, 3)}…)`;
  if (key !== undefined && keyNames.isSecretKey(key) && !isMask(text) && CREDENTIAL.test(text))
    return `a credential under the secret-named key "${key}"`;
  return undefined;
}

/**
 * The first credential (or given secret) found anywhere in a status — every string field,
 * nested ones too, keys included — as `"<path>" shows <what>`, or `undefined`.
 */
export function leakInStatus(status: unknown, secrets: readonly string[] = []): string | undefined {
  const seen = new Set<object>();
  const visit = (value: unknown, path: string, key: string | undefined): string | undefined => {
    if (typeof value === 'string') {
      for (const secret of secrets) {
        if (secret && value.includes(secret)) return `"${path}" shows one of the given secrets`;
      }
      const what = credentialIn(value, key);
      return what === undefined ? undefined : `"${path}" shows ${what}`;
    }
    if (typeof value !== 'object' || value === null || seen.has(value)) return undefined;
    seen.add(value);
    const entries = Array.isArray(value)
      ? value.map((v, i) => [i, v] as const)
      : Object.entries(value as Record<string, unknown>);
    for (const [k, v] of entries) {
      const at = join(path, k);
      if (typeof k === 'string') {
        const inKey = visit(k, `${at} (the key)`, undefined);
        if (inKey !== undefined) return inKey;
      }
      const found = visit(v, at, typeof k === 'string' ? k : key);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return visit(status, 'status()', undefined);
}
