/**
 * Safe serialization (DESIGN.md section 4, item 7) fused with redaction and the global size
 * cap (item 6): one walk turns any value into plain JSON data that every sink can use
 * without another check. It never throws.
 */
import { types } from 'node:util';
import type { JsonValue } from './contract.js';
import { createRedactor, type Redactor } from './redact.js';

/** Limits of the sanitizing pass. All are per value handed to the coordinator. */
export interface SanitizeLimits {
  /**
   * Longest string kept, in UTF-16 code units; longer strings are redacted, then cut and
   * marked `…[truncated N chars]`, where N is the original length minus the length kept
   * before the marker (exactly the characters dropped when nothing was redacted).
   * @defaultValue `262144`
   */
  maxStringLength?: number;
  /** Deepest nesting kept; deeper values become `"[MaxDepth]"`. @defaultValue `32` */
  maxDepth?: number;
  /** Longest array kept; the rest is summarised in a last element. @defaultValue `10000` */
  maxArrayLength?: number;
  /** Most keys kept per object; the rest is summarised. @defaultValue `1000` */
  maxObjectKeys?: number;
}

/** Turns any value into JSON data. */
export type Sanitizer = (value: unknown) => JsonValue;

const DEFAULT_LIMITS: Required<SanitizeLimits> = {
  maxStringLength: 262_144,
  maxDepth: 32,
  maxArrayLength: 10_000,
  maxObjectKeys: 1_000,
};

/**
 * How far past the cap a string over it is still redacted, so that a credential which
 * starts before the cut is seen whole (URL credentials end only at their `@`).
 */
const REDACT_MARGIN = 4096;

/** The marker suffix that ends a cut string. */
export function truncationMarker(dropped: number): string {
  return `…[truncated ${dropped} chars]`;
}

/** A marker at the end of a string (a string cut before: by a replay, by another sink). */
const ENDS_WITH_MARKER = /…\[truncated \d+ chars\]$/;

/**
 * Cuts a string to at most `max` code units plus a marker, never splitting a surrogate pair.
 * A string that was already cut at `max` or less is left as it is (cutting is idempotent: a
 * replayed step keeps the text and the marker of the original).
 *
 * @example
 * ```ts
 * truncate('abcdef', 3); // 'abc…[truncated 3 chars]'
 * truncate(truncate('abcdef', 3), 3); // the same
 * ```
 */
export function truncate(value: string, max: number): string {
  if (value.length <= max) return value;
  const marked = ENDS_WITH_MARKER.exec(value);
  if (marked !== null && marked.index <= max) return value;
  const end = cutPoint(value, Math.max(0, Math.floor(max)));
  return value.slice(0, end) + truncationMarker(value.length - end);
}

/** `end`, moved back by one when it would split a surrogate pair. */
function cutPoint(value: string, end: number): number {
  if (end <= 0) return 0;
  const code = value.charCodeAt(end - 1);
  return code >= 0xd800 && code <= 0xdbff ? end - 1 : end;
}

/** The first `end` code units, never ending in half a surrogate pair. */
function sliceWhole(value: string, end: number): string {
  return value.slice(0, cutPoint(value, end));
}

type StringWithWellFormed = string & { isWellFormed?(): boolean; toWellFormed?(): string };

/**
 * What a throwing getter or Proxy said, as data: its message redacted (it may quote a URL
 * with credentials or a token) before it is cut to 200 characters, and well-formed.
 */
function describeError(message: string, error: unknown, redact: (text: string) => string): string {
  let reason = '';
  try {
    reason = error instanceof Error ? String(error.message) : String(error);
  } catch {
    reason = 'unknown';
  }
  let text = redact(sliceWhole(reason, 4096)) as StringWithWellFormed;
  if (text.isWellFormed !== undefined && !text.isWellFormed()) text = text.toWellFormed!();
  return `[${message}: ${sliceWhole(text, 200)}]`;
}

/**
 * Builds the sanitizing pass: cycles, BigInt, Errors (with causes), Dates, Map and Set,
 * Buffers and typed arrays, NaN and Infinity, functions, symbols, throwing getters and
 * Proxies, huge strings, deep nesting and lone surrogates all become valid JSON data; keys
 * that look like secrets are masked; URL credentials inside strings are masked.
 *
 * @example
 * ```ts
 * const sanitize = createSanitizer({ maxStringLength: 1000 });
 * sanitize({ n: 10n, when: new Date(0), api_key: 'sk-1' });
 * // { n: 10, when: '1970-01-01T00:00:00.000Z', api_key: '[REDACTED]' }
 * ```
 */
export function createSanitizer(limits: SanitizeLimits = {}, redactor?: Redactor): Sanitizer {
  const maxString = limits.maxStringLength ?? DEFAULT_LIMITS.maxStringLength;
  const maxDepth = limits.maxDepth ?? DEFAULT_LIMITS.maxDepth;
  const maxArray = limits.maxArrayLength ?? DEFAULT_LIMITS.maxArrayLength;
  const maxKeys = limits.maxObjectKeys ?? DEFAULT_LIMITS.maxObjectKeys;
  const red = redactor ?? createRedactor();
  const marker = red.marker;
  const ancestors: object[] = [];

  /**
   * A string over the cap: redacted before it is cut, so a credential that straddles the cut
   * cannot survive in part. Only the first `maxString + REDACT_MARGIN` code units are
   * redacted (the rest is cut anyway); a credential longer than that margin that starts
   * before the cut is the only thing this cannot see whole.
   */
  const redactAndCut = (value: string): string => {
    // Cut before (a replayed step, another coordinator's output): kept as it is, redacted.
    const marked = ENDS_WITH_MARKER.exec(value);
    if (marked !== null && marked.index <= maxString) return red.redactString(value);
    const length = value.length;
    const whole = length <= maxString + REDACT_MARGIN;
    const head = red.redactString(whole ? value : sliceWhole(value, maxString + REDACT_MARGIN));
    // Redaction may have shortened it enough (a long secret became the marker).
    if (whole && head.length <= maxString) return head;
    const end = cutPoint(head, Math.min(head.length, Math.max(0, Math.floor(maxString))));
    return head.slice(0, end) + truncationMarker(length - end);
  };

  const str = (input: string): string => {
    // Hot path: a string under the cap is redacted once, as it is.
    if (input.length > maxString) {
      const s = redactAndCut(input) as StringWithWellFormed;
      return s.isWellFormed !== undefined && !s.isWellFormed() ? s.toWellFormed!() : s;
    }
    let s = input as StringWithWellFormed;
    // Lone surrogates are valid in JS strings but not in UTF-8 (protobuf, HTTP bodies).
    if (s.isWellFormed !== undefined && !s.isWellFormed()) s = s.toWellFormed!();
    return red.redactString(s);
  };

  // -0 becomes 0, as JSON would write it.
  const num = (n: number): JsonValue => (Number.isFinite(n) ? n + 0 : String(n));

  const walk = (value: unknown, depth: number): JsonValue | undefined => {
    switch (typeof value) {
      case 'string':
        return str(value);
      case 'number':
        return num(value);
      case 'boolean':
        return value;
      case 'undefined':
        return undefined;
      case 'bigint':
        return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
      case 'symbol':
        return str(value.toString());
      case 'function':
        return `[Function: ${(value as { name?: string }).name || 'anonymous'}]`;
    }
    if (value === null) return null;
    const obj = value as object;
    if (depth >= maxDepth) return '[MaxDepth]';
    if (ancestors.includes(obj)) return '[Circular]';
    ancestors.push(obj);
    try {
      // Hot path first: plain data objects, without the dispatch of walkObject.
      if (Object.getPrototypeOf(obj) === Object.prototype) return walkPlain(obj, depth);
      return walkObject(obj, depth);
    } catch (error) {
      return describeError('Unserializable', error, red.redactString);
    } finally {
      ancestors.pop();
    }
  };

  const walkArray = (arr: ArrayLike<unknown>, depth: number): JsonValue[] => {
    const length = arr.length;
    const n = Math.min(length, maxArray);
    const out: JsonValue[] = new Array(n);
    for (let i = 0; i < n; i++) {
      let item: unknown;
      try {
        item = arr[i];
      } catch (error) {
        out[i] = describeError('Thrown', error, red.redactString);
        continue;
      }
      const v = walk(item, depth + 1);
      out[i] = v === undefined ? null : v;
    }
    if (length > maxArray) out.push(`…[${length - maxArray} more items]`);
    return out;
  };

  const walkEntries = (
    source: object,
    keys: string[],
    depth: number,
  ): { [key: string]: JsonValue } => {
    const out: { [key: string]: JsonValue } = {};
    const n = Math.min(keys.length, maxKeys);
    for (let i = 0; i < n; i++) {
      const key = keys[i]!;
      let item: unknown;
      try {
        item = (source as Record<string, unknown>)[key];
      } catch (error) {
        out[key] = describeError('Thrown', error, red.redactString);
        continue;
      }
      if (red.isSecretKey(key) && item !== null && item !== undefined) {
        const t = typeof item;
        if (t !== 'number' && t !== 'boolean' && t !== 'bigint') {
          if (t === 'string') red.remember(item as string);
          out[key] = marker;
          continue;
        }
      }
      const v = walk(item, depth + 1);
      if (v !== undefined) out[key] = v;
    }
    if (keys.length > maxKeys) out['…'] = `[${keys.length - maxKeys} more keys]`;
    return out;
  };

  /**
   * Plain objects, the hot path. `{...obj}` copies every property with V8's fast object
   * clone; the loop then only writes the few values that change (nested objects, masked or
   * cut strings). Anything unusual — a throwing getter, too many keys, `undefined` values —
   * takes the careful path instead (where a throwing `ownKeys` becomes "[Unserializable]").
   */
  const walkPlain = (obj: object, depth: number): JsonValue => {
    let out: Record<string, unknown>;
    try {
      out = { ...obj };
    } catch {
      return walkEntries(obj, Object.keys(obj), depth);
    }
    let count = 0;
    for (const key in out) {
      if (++count > maxKeys) return walkEntries(obj, Object.keys(obj), depth);
      const item = out[key];
      switch (typeof item) {
        case 'number':
          if (!Number.isFinite(item) || item === 0)
            out[key] = Number.isFinite(item) ? 0 : String(item);
          continue;
        case 'boolean':
          continue;
        case 'string': {
          if (red.isSecretKey(key)) {
            red.remember(item);
            out[key] = marker;
            continue;
          }
          const clean = str(item);
          if (clean !== item) out[key] = clean;
          continue;
        }
        case 'function':
          // An own toJSON decides the object's JSON form.
          if (key === 'toJSON') return walkObject(obj, depth);
          return walkEntries(obj, Object.keys(obj), depth);
        case 'undefined':
        case 'symbol':
        case 'bigint':
          return walkEntries(obj, Object.keys(obj), depth);
      }
      if (item === null) continue;
      if (red.isSecretKey(key)) {
        out[key] = marker;
        continue;
      }
      out[key] = walk(item, depth + 1);
    }
    return out as { [key: string]: JsonValue };
  };

  const walkObject = (obj: object, depth: number): JsonValue => {
    // Fast path first: plain objects and arrays are almost everything agents send.
    const proto = Object.getPrototypeOf(obj);
    if (proto === Object.prototype || proto === null) {
      if (typeof (obj as { toJSON?: unknown }).toJSON !== 'function') return walkPlain(obj, depth);
    } else if (Array.isArray(obj)) {
      return walkArray(obj, depth);
    }
    if (obj instanceof Date) {
      const time = obj.getTime();
      return Number.isFinite(time) ? obj.toISOString() : 'Invalid Date';
    }
    if (ArrayBuffer.isView(obj)) {
      const kind =
        types.isUint8Array(obj) && Buffer.isBuffer(obj) ? 'Buffer' : obj.constructor?.name;
      return `[${kind || 'ArrayBufferView'}: ${obj.byteLength} bytes]`;
    }
    if (types.isAnyArrayBuffer(obj)) return `[ArrayBuffer: ${obj.byteLength} bytes]`;
    if (obj instanceof Map) {
      const out: { [key: string]: JsonValue } = {};
      let count = 0;
      for (const [k, v] of obj) {
        if (count++ >= maxKeys) {
          out['…'] = `[${obj.size - maxKeys} more entries]`;
          break;
        }
        const key = typeof k === 'string' ? k : String(walk(k, depth + 1));
        // As in a plain object: anything but a count or a flag under a secret key is masked.
        if (red.isSecretKey(key) && v !== null && v !== undefined) {
          const t = typeof v;
          if (t !== 'number' && t !== 'boolean' && t !== 'bigint') {
            if (t === 'string') red.remember(v as string);
            out[key] = marker;
            continue;
          }
        }
        const sv = walk(v, depth + 1);
        out[key] = sv === undefined ? null : sv;
      }
      return out;
    }
    if (obj instanceof Set) return walkArray(Array.from(obj), depth);
    if (types.isNativeError(obj) || obj instanceof Error) {
      const error = obj as Error & { cause?: unknown; code?: unknown };
      const out: { [key: string]: JsonValue } = {
        name: str(String(error.name)),
        message: str(String(error.message)),
      };
      if (typeof error.stack === 'string') out.stack = str(error.stack);
      if (error.code !== undefined) {
        const code = walk(error.code, depth + 1);
        if (code !== undefined) out.code = code;
      }
      if ('cause' in error) {
        const cause = walk(error.cause, depth + 1);
        if (cause !== undefined) out.cause = cause;
      }
      const rest = walkEntries(obj, Object.keys(obj), depth);
      for (const key in rest) if (!(key in out)) out[key] = rest[key]!;
      return out;
    }
    if (types.isPromise(obj)) return '[Promise]';
    if (types.isWeakMap(obj) || types.isWeakSet(obj)) return `[${obj.constructor.name}]`;
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json = walk(toJSON.call(obj), depth);
      return json === undefined ? null : json;
    }
    return walkEntries(obj, Object.keys(obj), depth);
  };

  return (value: unknown): JsonValue => {
    ancestors.length = 0;
    try {
      const v = walk(value, 0);
      return v === undefined ? null : v;
    } catch (error) {
      // Only reachable through a stack overflow inside the walk; keep the promise anyway.
      return describeError('Unserializable', error, red.redactString);
    }
  };
}

/**
 * `JSON.stringify` that never throws: sanitizes first when the value cannot be stringified
 * as it is.
 */
export function safeStringify(value: unknown, sanitize: Sanitizer = defaultSanitizer()): string {
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // fall through: cycles, BigInt, throwing getters and toJSON
  }
  return JSON.stringify(sanitize(value));
}

let shared: Sanitizer | undefined;
/** A sanitizer with the default limits and the default redaction. */
export function defaultSanitizer(): Sanitizer {
  shared ??= createSanitizer();
  return shared;
}
