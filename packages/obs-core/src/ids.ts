/**
 * Ids every sink needs: deterministic trace and span ids derived from a run id (so a replay
 * of the same run lands on the same trace where the backend de-duplicates by id), W3C
 * `traceparent` parsing and formatting, and time-ordered run ids.
 */
import { hash, randomBytes } from 'node:crypto';

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

function digest(input: string): string {
  return hash('sha256', input, 'hex');
}

function nonZero(hex: string, fallback: string): string {
  return /^0+$/.test(hex) ? fallback : hex;
}

/**
 * The 32-hex trace id of a run, derived from its id (the root run's id for nested runs).
 *
 * @example
 * ```ts
 * traceIdFromRunId('run-1') === traceIdFromRunId('run-1'); // true
 * ```
 */
export function traceIdFromRunId(runId: string): string {
  return remember(traceIds, runId, computeTraceId);
}

function computeTraceId(runId: string): string {
  return nonZero(digest(`rlm-obs:trace:${runId}`).slice(0, 32), '00000000000000000000000000000001');
}

/**
 * `compute(runId)`, remembered for the run ids seen lately (several sinks ask per step).
 * `compute` is a plain function, not a closure: nothing is allocated on a hit.
 */
function remember<T>(cache: Map<string, T>, runId: string, compute: (runId: string) => T): T {
  let value = cache.get(runId);
  if (value === undefined) {
    value = compute(runId);
    if (cache.size >= 4096) cache.clear();
    cache.set(runId, value);
  }
  return value;
}

/** The trace ids of the run ids seen lately. */
const traceIds = new Map<string, string>();

/** SHA-256 of each run id seen lately: a step's span id mixes the step into it cheaply. */
const runHashes = new Map<string, [number, number]>();

function runHash(runId: string): [number, number] {
  return remember(runHashes, runId, computeRunHash);
}

function computeRunHash(runId: string): [number, number] {
  const hex = digest(`rlm-obs:run:${runId}`);
  return [Number.parseInt(hex.slice(0, 8), 16), Number.parseInt(hex.slice(8, 16), 16)];
}

/** A 32-bit finaliser (murmur3's fmix32): every input bit reaches every output bit. */
function fmix32(input: number): number {
  let h = input | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** 8 hex digits; a table beats `toString(16)` on the hot path. */
function hex8(n: number): string {
  return (
    BYTE_HEX[n >>> 24]! +
    BYTE_HEX[(n >>> 16) & 255]! +
    BYTE_HEX[(n >>> 8) & 255]! +
    BYTE_HEX[n & 255]!
  );
}

/**
 * The 16-hex span id of a run's root span, or of one of its steps when `step` is given. The
 * run's id is hashed once (SHA-256); a step's id mixes the step number into that hash, so it
 * costs nanoseconds on the hot path and is the same in every process.
 */
export function spanIdFromRunId(runId: string, step?: number | string): string {
  const [hi, lo] = runHash(runId);
  if (step === undefined) return hi === 0 && lo === 0 ? '0000000000000001' : hex8(hi) + hex8(lo);
  const n =
    typeof step === 'number' && Number.isSafeInteger(step) ? step : stringHash(String(step));
  const a = fmix32(hi ^ fmix32(n + 0x9e3779b9));
  const b = fmix32(lo ^ fmix32(a + n + 0x7f4a7c15) ^ (Math.floor(n / 0x100000000) | 0));
  return a === 0 && b === 0 ? '0000000000000001' : hex8(a) + hex8(b);
}

function stringHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A parsed W3C trace context. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  /** Trace flags; bit 0 is "sampled". */
  traceFlags: number;
}

/**
 * Parses a W3C `traceparent` header. Returns `undefined` for anything invalid, including
 * all-zero ids and version `ff`.
 */
export function parseTraceparent(header: unknown): TraceContext | undefined {
  if (typeof header !== 'string') return undefined;
  const match = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags] = match;
  if (version === 'ff') return undefined;
  if (version === '00' && header.trim().length !== 55) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, traceFlags: Number.parseInt(flags!, 16) };
}

/**
 * Formats a W3C `traceparent` header (version 00).
 *
 * @example
 * ```ts
 * formatTraceparent({ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: 1 });
 * // '00-abab…ab-cdcd…cd-01'
 * ```
 */
export function formatTraceparent(context: TraceContext): string {
  if (!HEX32.test(context.traceId) || !HEX16.test(context.spanId)) {
    throw new TypeError('formatTraceparent: traceId must be 32 hex chars and spanId 16');
  }
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${context.traceId}-${context.spanId}-${flags}`;
}

/**
 * A new run id: a UUID version 7, so ids sort by creation time (file listings and
 * `rlm-obs runs` read in order).
 */
export function newRunId(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  const ms = BigInt(Math.max(0, Math.floor(now)));
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
