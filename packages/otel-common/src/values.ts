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
  truncate,
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
 * The OTel sinks' hook runner: core's {@link DeferredHooks} (hook calls queued, drained in
 * order on the next turn of the event loop, with the time of the call as `now()`).
 */
export { DeferredHooks as HookGuard } from '@rlm/obs-core';

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

/**
 * Remembers `value` under `key` in a map bounded to `limit` entries (the oldest goes first), for
 * what a sink keeps about runs that ended (their trace id, for late scores).
 */
export function remember<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  if (map.size >= limit) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, value);
}

/**
 * The number of each step of each run, for the span ids: a step's own number, else its place
 * among the steps seen for its run (the n-th, as the run API numbers them), so that steps
 * without a number get distinct ids and a replay of the run the same ones. Steps that came
 * before their run's start count on into it; a run started again (a replay into the same
 * process) counts from 1. Bounded: the runs least recently stepped are forgotten first.
 */
export class StepSequence {
  readonly #runs = new Map<string, { seen: number; started: boolean }>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** The run started: steps without a number count on from the steps seen before its start. */
  start(runId: string): void {
    const known = this.#runs.get(runId);
    remember(
      this.#runs,
      runId,
      { seen: known && !known.started ? known.seen : 0, started: true },
      this.#limit,
    );
  }

  /** The number of the run's next step: `given`, else its place among the run's steps. */
  next(runId: string, given: number | undefined): number {
    const known = this.#runs.get(runId);
    const seen = (known?.seen ?? 0) + 1;
    remember(this.#runs, runId, { seen, started: known?.started ?? false }, this.#limit);
    return given ?? seen;
  }
}

/** A run's session, user and tags, read defensively from its start. */
export interface RunIdentity {
  sessionId?: string;
  userId?: string;
  /** Possibly empty. */
  tags: string[];
}

/** The session, user and tags of a run start (the coordinator cleaned them; a replay may not). */
export function runIdentity(start: unknown): RunIdentity {
  const s = isObject(start) ? start : {};
  const out: RunIdentity = { tags: [] };
  const sessionId = str(s.sessionId);
  const userId = str(s.userId);
  if (sessionId) out.sessionId = sessionId.slice(0, 200);
  if (userId) out.userId = userId.slice(0, 200);
  if (Array.isArray(s.tags)) {
    const tags = new Set<string>();
    for (const tag of s.tags.slice(0, 100))
      if (typeof tag === 'string' && tag.length > 0) tags.add(tag.slice(0, 200));
    out.tags = [...tags];
  }
  return out;
}

/** `session.id` and `user.id` (OpenTelemetry semantic conventions) of a run, when it has them. */
export function identityAttributes(identity: RunIdentity): Attributes {
  const out: Attributes = {};
  if (identity.sessionId) out['session.id'] = identity.sessionId;
  if (identity.userId) out['user.id'] = identity.userId;
  return out;
}

/** A score read defensively: what the OTLP sinks record. */
export interface ScoreFields {
  name: string;
  value: string | number | boolean;
  kind: 'score' | 'feedback';
  comment?: string;
  step?: number;
  source?: string;
  /** When it was given (epoch ms), if the record says. */
  atMs?: number;
}

/** Longest score name kept (the coordinator's own limit). */
const SCORE_NAME_LIMIT = 200;

/**
 * Reads a score; throws (for the hook guard to count as a bad event) when it has no name or
 * its value is not a finite number, a string or a boolean. Long names, values and comments
 * are truncated (`textLimit` characters).
 */
export function readScore(score: unknown, textLimit = 1000): ScoreFields {
  const s = isObject(score) ? score : {};
  const name = str(s.name)?.trim();
  if (!name) throw new Error('a score without a name');
  const value = s.value;
  if (
    !(
      typeof value === 'boolean' ||
      typeof value === 'string' ||
      (typeof value === 'number' && Number.isFinite(value))
    )
  )
    throw new Error(`score '${truncate(name, 50)}' needs a finite number, a string or a boolean`);
  const out: ScoreFields = {
    name: truncate(name, SCORE_NAME_LIMIT),
    value: typeof value === 'string' ? truncate(value, textLimit) : value,
    kind: s.kind === 'feedback' ? 'feedback' : 'score',
  };
  const comment = str(s.comment);
  if (comment) out.comment = truncate(comment, textLimit);
  if (typeof s.step === 'number' && Number.isSafeInteger(s.step)) out.step = s.step;
  const source = str(s.source);
  if (source) out.source = truncate(source, SCORE_NAME_LIMIT);
  const at = timeOf(s.at);
  if (at !== undefined) out.atMs = at;
  return out;
}

/**
 * A score's attributes: `rlm.score.name`, `rlm.score.value` (number, string or boolean as
 * is), `rlm.score.kind`, and `rlm.score.comment`, `rlm.score.source`, `rlm.step` when given.
 */
export function scoreAttributes(score: ScoreFields): Attributes {
  const out: Attributes = {
    'rlm.score.name': score.name,
    'rlm.score.value': score.value,
    'rlm.score.kind': score.kind,
  };
  if (score.comment !== undefined) out['rlm.score.comment'] = score.comment;
  if (score.source !== undefined) out['rlm.score.source'] = score.source;
  if (score.step !== undefined) out['rlm.step'] = score.step;
  return out;
}

/** A deterministic span id for a score, so a replay of it yields the same id. */
export function scoreSpanId(runId: string, score: ScoreFields): string {
  return spanIdFromRunId(
    runId,
    `score:${score.name}:${score.step ?? ''}:${score.kind}:${score.source ?? ''}:${score.atMs ?? ''}`,
  );
}
