/** Reading sanitized (or hostile) payloads into OpenTelemetry attribute values. */
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import {
  epochMs,
  finiteNumber,
  isRecord,
  parseTraceparent,
  type RunStart,
  safeUrl,
  spanIdFromRunId,
  stringValue,
  traceIdFromRunId,
} from '@rlm/obs-core';
import type { PrivateTracing } from './private-tracing.js';

// The generic payload readers live in core; these names are what the OTLP sinks use.
export const isObject = isRecord;
export const timeOf = epochMs;
export const num = finiteNumber;
export const str = stringValue;
export const safeEndpoint = safeUrl;

/** Custom attributes as OTel values: primitives as they are, anything else as JSON. */
export function customAttributes(source: unknown, prefix = ''): Attributes {
  const out: Attributes = {};
  if (!isObject(source)) return out;
  for (const [key, value] of Object.entries(source)) {
    if (
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value))
    ) {
      out[prefix + key] = value;
    } else if (value !== null && value !== undefined) {
      out[prefix + key] = JSON.stringify(value);
    }
  }
  return out;
}

/**
 * The parent of a run's span: a remote `traceparent` (another process, or `run.child()`),
 * else the live span of `parentRunId`, else none.
 */
export function runParentContext(
  traceparent: unknown,
  parentContext: Context | undefined,
): Context {
  const remote = parseTraceparent(traceparent);
  if (remote) {
    return trace.setSpanContext(ROOT_CONTEXT, {
      traceId: remote.traceId,
      spanId: remote.spanId,
      traceFlags: remote.traceFlags,
      isRemote: true,
    });
  }
  return parentContext ?? ROOT_CONTEXT;
}

/**
 * The context of a run this process never saw start (a replay of part of a run): its
 * derived trace and span ids, so its children still land under it.
 */
export function derivedRunContext(runId: string, traceId?: string): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: traceId ?? traceIdFromRunId(runId),
    spanId: spanIdFromRunId(runId),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/** The start to assume for a run whose end arrives without its start (a replay of its end). */
export function impliedStart(result: Record<string, unknown>): RunStart {
  return {
    task: '',
    environment: '',
    params: {},
    ...(typeof result.startedAt === 'string' ? { startedAt: result.startedAt } : {}),
  };
}

/**
 * Runs a hook so that it never throws into the coordinator, whatever the input (throwing
 * getters, Proxies), counting what it caught.
 */
export class HookGuard {
  errors = 0;
  lastError: string | undefined;
  readonly #onError: (() => void) | undefined;

  /** `onError` undoes half-done work (for example ids chosen for a span never started). */
  constructor(onError?: () => void) {
    this.#onError = onError;
  }

  run(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#onError?.();
      this.errors++;
      this.lastError = error instanceof Error ? error.message : String(error);
    }
  }
}

/** The default bound on runs whose span a sink holds open at once. */
export const DEFAULT_MAX_OPEN_RUNS = 10_000;

/**
 * Holds a run's open span under a bound: when `runs` already holds `limit` other runs, the
 * oldest one's span is ended with `rlm.evicted = true` (and counted as ended) to make room, so
 * runs that never end cannot grow a long-lived host's memory.
 */
export function holdRun<T extends { span: Span }>(
  runs: Map<string, T>,
  id: string,
  run: T,
  limit: number,
  tracing: PrivateTracing | undefined,
): void {
  if (!runs.has(id) && runs.size >= limit) {
    const oldest = runs.keys().next().value;
    if (oldest !== undefined) {
      const evicted = runs.get(oldest)!;
      runs.delete(oldest);
      evicted.span.setAttribute('rlm.evicted', true);
      evicted.span.end();
      tracing?.ended();
    }
  }
  runs.set(id, run);
}
