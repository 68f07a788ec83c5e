/**
 * `langfuse`: the Python original's LangFuseSink on the current Langfuse SDK — a trace
 * `rlm-run` per run, a span `step-<n>` per step, the output at the end, and a Langfuse score
 * per score or feedback (the end-of-run `reward` and `completed` included, which the
 * coordinator sends through `onScore`).
 *
 * The deprecated `langfuse` v3 package and its ingestion path are not used: spans go through
 * the official `LangfuseSpanProcessor` (`@langfuse/otel`) on a private tracer provider — not
 * the global one, and not `setLangfuseTracerProvider()` (a process-wide slot the host's own
 * Langfuse may use) — with Langfuse's attribute conventions. Scores (batched here, so failures
 * are counted) and the auth check are plain requests to the public API endpoints
 * `@langfuse/client` calls (`POST /api/public/ingestion`, `GET /api/public/projects`): the
 * client's request timeout is a timer it does not clear when a request fails, which kept the
 * process alive for the whole timeout after every failed score batch.
 */

import { LangfuseSpanProcessor } from '@langfuse/otel';
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  AuthCooldown,
  type AuthCooldownOptions,
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  readContentLimits,
  type ScoreRecord,
  SINK_SPECIFICATION_VERSION,
  type SinkCheckResult,
  type SinkStatus,
  type StepEvent,
  type StepRecord,
  spanIdFromRunId,
  stepUsages,
  traceIdFromRunId,
  truncate,
} from '@rlm/obs-core';
import {
  customAttributes,
  DEFAULT_MAX_OPEN_RUNS,
  derivedRunContext,
  ExportAuth,
  HookGuard,
  holdRun,
  identityAttributes,
  impliedStart,
  isObject,
  num,
  PrivateTracing,
  readScore,
  remember,
  runIdentity,
  runParentContext,
  type Scrub,
  type SpanCounters,
  StepSequence,
  safeEndpoint,
  secretScrubber,
  str,
  timeOf,
} from '@rlm/otel-common';

/** Options of the `langfuse` sink. */
export interface LangfuseSinkOptions {
  /** @defaultValue `true` (env `DSPY_RLM_LANGFUSE_ENABLED` with `createLangfuseSinkFromEnv`) */
  enabled?: boolean;
  /** env `LANGFUSE_PUBLIC_KEY` */
  publicKey?: string;
  /** env `LANGFUSE_SECRET_KEY` */
  secretKey?: string;
  /** @defaultValue `https://cloud.langfuse.com` (env `LANGFUSE_HOST`, or the SDK's `LANGFUSE_BASE_URL`) */
  baseUrl?: string;
  /** Langfuse's `environment` of the traces (env `LANGFUSE_TRACING_ENVIRONMENT`). */
  environment?: string;
  /** Check the keys at setup (the original calls `auth_check()`). @defaultValue `true` */
  authCheck?: boolean;
  /** Spans per export. @defaultValue `512` */
  flushAt?: number;
  /** Seconds between exports. @defaultValue `1` */
  flushIntervalSeconds?: number;
  /** Request timeout in seconds. @defaultValue `10` */
  timeoutSeconds?: number;
  /** Replace the OTLP exporter (tests). */
  spanExporter?: SpanExporter;
  /** Runs held open at once; the oldest is ended (`rlm.evicted`) beyond it. @defaultValue `10000` */
  maxOpenRuns?: number;
  /**
   * The pause after Langfuse refused the keys (HTTP 401/403, on the OTLP export or the score
   * ingestion): one minute, doubling up to fifteen, ±20% jitter (`now` and `random` for tests).
   */
  authCooldown?: AuthCooldownOptions;
  /**
   * The longest texts sent, in characters; a longer one is cut and marked (`…[truncated N
   * chars]`). The task is sent whole (the coordinator's own limits apply to it).
   * @defaultValue `500` each
   */
  limits?: LangfuseLimits;
  /** @defaultValue `'langfuse'` */
  name?: string;
}

/** The sink's text limits (characters), each a whole number > 0. */
export interface LangfuseLimits {
  /** A step's code (the observation input's `code`). @defaultValue `500` */
  code?: number;
  /** A step's output (the observation output's `output`). @defaultValue `500` */
  output?: number;
  /** The run's final answer (the trace output's `final_answer`). @defaultValue `500` */
  finalAnswer?: number;
  /** A failed step's error and a run's error (the status message). @defaultValue `500` */
  error?: number;
  /** A score's comment and a string score's value. @defaultValue `500` */
  score?: number;
}

/** The seed's cut: 500 characters for code, output, final answer, errors and score texts. */
export const DEFAULT_LIMITS: Readonly<Required<LangfuseLimits>> = Object.freeze({
  code: 500,
  output: 500,
  finalAnswer: 500,
  error: 500,
  score: 500,
});

/** Scores held for the next flush; beyond it they are counted as failed. */
const MAX_QUEUED_SCORES = 10_000;
/**
 * The key check at setup: longer than the factory waits for it (5 s), so that with a Langfuse
 * that does not answer the factory returns first, the status saying the check goes on.
 */
const CHECK_TIMEOUT_MS = 10_000;
/** Retries of a score batch Langfuse answered 408, 429 or 5xx to (as the API client did). */
const SCORE_RETRIES = 2;
/** The longest wait before a retry, whatever `Retry-After` says. */
const MAX_RETRY_DELAY_MS = 10_000;
/** What an HTTP header cannot carry: a key with one would fail every request. */
const NOT_IN_HEADER = /[^\x20-\x7e\x80-\xff]/;

/** `Retry-After` in milliseconds: seconds, or an HTTP date; undefined when absent or bad. */
function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds > 0 ? seconds * 1000 : undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) && at > Date.now() ? at - Date.now() : undefined;
}

/** A failed request: `statusCode` for the auth pause and the messages. */
class LangfuseRequestError extends Error {
  readonly statusCode: number | undefined;
  constructor(message: string, statusCode?: number) {
    super(message);
    this.name = 'LangfuseRequestError';
    this.statusCode = statusCode;
  }
}

/** A key as given, without the whitespace a `.env` file leaves (a CRLF line end). */
function cleanKey(value: string | undefined): string | undefined {
  const key = value?.trim();
  return key ? key : undefined;
}

interface OpenRun {
  span: Span;
  context: Context;
  traceId: string;
  startMs: number;
  lastStepEnd: number;
  root: boolean;
  /** `session.id`, `user.id`: on the run's span and its steps (Langfuse trace attributes). */
  identity: Attributes;
  /** The run's custom attributes as metadata: on its span, its steps and their generations. */
  custom: Attributes;
}

/** What the sink remembers of a run that ended, for late scores and late steps. */
interface EndedRun {
  traceId: string;
  root: boolean;
}

/** A score as the ingestion API takes it (`score-create`). */
interface ScoreBody {
  id: string;
  traceId: string;
  observationId?: string;
  name: string;
  value: number | string;
  dataType: 'NUMERIC' | 'BOOLEAN' | 'CATEGORICAL';
  comment?: string;
  metadata: { kind: string; source?: string };
  environment?: string;
}

/** Stats of the sink: span counters, scores, bad events, the auth pause. */
export type LangfuseStats = SpanCounters & {
  /** Scores the ingestion API accepted. */
  scores_sent: number;
  /** Scores not sent or refused, including the skipped ones. */
  score_errors: number;
  /** Scores not sent because of an auth pause (a part of `score_errors`). */
  scores_skipped: number;
  bad_events: number;
  last_error?: string;
  authFailures: number;
  authSkipped: number;
  authPausedUntil: string | null;
};

function json(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return '"[unserializable]"';
  }
}

/** Metadata attributes: `<prefix>.<key>`, strings as they are, anything else as JSON. */
function metadata(prefix: string, values: Record<string, unknown>): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    out[`${prefix}.${key}`] = typeof value === 'string' ? value : json(value);
  }
  return out;
}

/**
 * The `langfuse` sink.
 *
 * @example
 * ```ts
 * const sink = await createSink({ publicKey: 'pk-lf-…', secretKey: 'sk-lf-…' });
 * ```
 */
export class LangfuseSink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  readonly enabled: boolean;
  readonly baseUrl: string;
  /** Resolves when the setup (and the auth check) is done. */
  readonly ready: Promise<void>;

  #tracing: PrivateTracing | undefined;
  /** `Authorization` and the other headers of the API requests; unset without keys. */
  #apiHeaders: Record<string, string> | undefined;
  #available = false;
  /**
   * Spans and scores that had gone through when the key check failed (`-1`: it did not): one
   * more means Langfuse is reachable and takes the keys after all, and `available` says so.
   */
  #deliveredAtCheck = -1;
  #detail: string;
  #runs = new Map<string, OpenRun>();
  #ended = new Map<string, EndedRun>();
  /** Step numbers for the span ids (steps without a number are the n-th of their run). */
  readonly #steps: StepSequence;
  readonly #maxOpenRuns: number;
  readonly #hooks = new HookGuard(() => this.#tracing?.ids.reset());
  /** One pause for the keys: the OTLP export and the score ingestion share it. */
  readonly #auth: ExportAuth;
  /** Masks the secret key and URL credentials in every text `status()`, `stats()` and `check()` show. */
  readonly #scrub: Scrub;
  readonly #environment: string | undefined;
  readonly #timeoutSeconds: number;
  readonly #limits: Required<LangfuseLimits>;
  #scoreErrors = 0;
  #scoresSent = 0;
  #scoresSkipped = 0;
  #scoreError: string | undefined;
  #scores: ScoreBody[] = [];
  #shutdown: Promise<void> | undefined;

  constructor(options: LangfuseSinkOptions = {}) {
    this.name = options.name ?? 'langfuse';
    this.#maxOpenRuns = Math.max(1, options.maxOpenRuns ?? DEFAULT_MAX_OPEN_RUNS);
    this.#steps = new StepSequence(this.#maxOpenRuns * 2);
    this.enabled = options.enabled !== false;
    this.baseUrl = (options.baseUrl ?? 'https://cloud.langfuse.com').replace(/\/+$/, '');
    this.#detail = 'disabled';
    this.ready = Promise.resolve();
    this.#auth = new ExportAuth(new AuthCooldown(options.authCooldown));
    this.#environment = options.environment;
    this.#timeoutSeconds = options.timeoutSeconds ?? 10;
    const limits = readContentLimits(DEFAULT_LIMITS, options.limits);
    this.#limits = 'limits' in limits ? limits.limits : { ...DEFAULT_LIMITS };
    const publicKey = cleanKey(options.publicKey);
    const secretKey = cleanKey(options.secretKey);
    const authorization = `Basic ${Buffer.from(`${publicKey}:${secretKey}`).toString('base64')}`;
    this.#scrub = secretScrubber({
      headers: publicKey && secretKey ? { Authorization: authorization } : {},
      secrets: [secretKey, options.secretKey],
      urls: [this.baseUrl],
    });
    if (!this.enabled) return;
    if ('problem' in limits) {
      this.#detail = `unavailable: ${limits.problem}`;
      return;
    }
    if (!publicKey || !secretKey) {
      this.#detail = `unavailable: set ${!publicKey ? 'LANGFUSE_PUBLIC_KEY' : ''}${!publicKey && !secretKey ? ' and ' : ''}${!secretKey ? 'LANGFUSE_SECRET_KEY' : ''}`;
      return;
    }
    // Whitespace around a key is trimmed; a line break or control character inside would fail
    // every request ("Invalid character in header content"): say which key, never its value.
    const bad = [
      NOT_IN_HEADER.test(publicKey) ? 'LANGFUSE_PUBLIC_KEY' : '',
      NOT_IN_HEADER.test(secretKey) ? 'LANGFUSE_SECRET_KEY' : '',
    ].filter(Boolean);
    if (bad.length > 0) {
      this.#detail = `unavailable: ${bad.join(' and ')} ${bad.length > 1 ? 'have' : 'has'} a line break or another control character inside`;
      return;
    }
    try {
      const timeoutMs = (options.timeoutSeconds ?? 10) * 1000;
      const exporter =
        options.spanExporter ??
        new OTLPTraceExporter({
          url: `${this.baseUrl}/api/public/otel/v1/traces`,
          headers: {
            Authorization: authorization,
            'x-langfuse-sdk-name': 'javascript',
            'x-langfuse-public-key': publicKey,
            'x-langfuse-ingestion-version': '4',
          },
          timeoutMillis: timeoutMs,
        });
      this.#tracing = new PrivateTracing({
        resource: { 'service.name': 'rlm-obs', 'telemetry.sdk.name': 'rlm-obs' },
        exporter,
        endpoint: this.baseUrl,
        auth: this.#auth,
        scrub: this.#scrub,
        tracerName: 'langfuse-sdk',
        processor: (counting) =>
          new LangfuseSpanProcessor({
            exporter: counting,
            publicKey,
            secretKey,
            baseUrl: this.baseUrl,
            flushAt: options.flushAt ?? 512,
            flushInterval: options.flushIntervalSeconds ?? 1,
            timeout: options.timeoutSeconds ?? 10,
            // Only this sink's spans are on this provider: export them all.
            shouldExportSpan: () => true,
            mediaUploadEnabled: false,
            ...(options.environment ? { environment: options.environment } : {}),
          }),
      });
      this.#apiHeaders = {
        Authorization: authorization,
        'X-Langfuse-Sdk-Name': 'javascript',
        'X-Langfuse-Public-Key': publicKey,
      };
      this.#available = true;
      this.#detail = safeEndpoint(this.baseUrl);
      if (options.authCheck !== false) {
        this.#detail = `${safeEndpoint(this.baseUrl)} (checking the keys)`;
        this.ready = this.#authCheck(publicKey);
      }
    } catch (error) {
      this.#available = false;
      this.#detail = `setup failed: ${this.#scrub(error)}`;
    }
  }

  async #authCheck(publicKey: string): Promise<void> {
    try {
      await this.#request('GET', '/api/public/projects', CHECK_TIMEOUT_MS);
      this.#detail = safeEndpoint(this.baseUrl);
    } catch (error) {
      this.#available = false;
      this.#deliveredAtCheck = this.#delivered();
      const status = (error as { statusCode?: number }).statusCode;
      const hint =
        status === 401 || status === 403
          ? `the keys were refused (HTTP ${status}) for public key ${publicKey.slice(0, 10)}…`
          : `cannot reach ${safeEndpoint(this.baseUrl)}: ${this.#scrub(error).split('\n')[0]}`;
      this.#detail = `unavailable: ${hint}`;
    }
  }

  /**
   * A request to Langfuse's public API; resolves with the parsed answer, else rejects with a
   * {@link LangfuseRequestError} (its `statusCode` when Langfuse answered). Its timeout is
   * `AbortSignal.timeout` (a timer that never holds the process); a POST Langfuse answered
   * 408, 429 or 5xx to is tried again, twice at most, after 1 s then 2 s (or `Retry-After`).
   */
  async #request(
    method: 'GET' | 'POST',
    path: string,
    timeoutMs: number,
    body?: unknown,
  ): Promise<unknown> {
    const url = new URL(`${this.baseUrl}${path}`);
    // fetch refuses a URL with credentials; the keys are the credentials here.
    url.username = '';
    url.password = '';
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        // With tracing suppressed: the application's HTTP/undici instrumentation must not
        // record the sink's own requests as spans of its traces.
        response = await context.with(suppressTracing(context.active()), () =>
          fetch(url, {
            method,
            headers: {
              ...this.#apiHeaders,
              ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
            },
            ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
            signal: AbortSignal.timeout(timeoutMs),
          }),
        );
      } catch (error) {
        // `fetch failed` says nothing; its cause does (`connect ECONNREFUSED …`, a timeout).
        const cause = (error as { cause?: unknown })?.cause;
        throw new LangfuseRequestError(this.#scrub(cause instanceof Error ? cause : error));
      }
      const text = await response.text().catch(() => '');
      const status = response.status;
      if (status >= 200 && status < 300) {
        try {
          return text ? JSON.parse(text) : undefined;
        } catch {
          return undefined;
        }
      }
      const retry = status === 408 || status === 429 || status >= 500;
      if (retry && attempt < SCORE_RETRIES) {
        const delay = retryAfterMs(response.headers.get('retry-after')) ?? 1000 * 2 ** attempt;
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, MAX_RETRY_DELAY_MS)));
        continue;
      }
      throw new LangfuseRequestError(`HTTP ${status}`, status);
    }
  }

  /**
   * `{name, enabled, available, detail}`; after Langfuse refused the keys the detail says so.
   * Once the sink sends (keys given), the losses too: the span counters (`spans_failed`,
   * `spans_dropped`, …), `scores_sent`, `score_errors`, `scores_skipped`, `open_runs`, the
   * auth pause, `last_error` (masked) once an export or a score batch failed, and
   * `bad_events`/`last_bad_event` when hook calls were refused.
   */
  status(): SinkStatus {
    if (this.#deliveredAtCheck >= 0 && this.#delivered() > this.#deliveredAtCheck) {
      this.#deliveredAtCheck = -1;
      this.#available = true;
      this.#detail = safeEndpoint(this.baseUrl);
    }
    const auth = this.#auth.detail();
    const status: SinkStatus = {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      detail: auth ? `${this.#detail}; ${auth}` : this.#detail,
    };
    const tracing = this.#tracing;
    if (!tracing) return status;
    Object.assign(status, tracing.counters(), {
      scores_sent: this.#scoresSent,
      score_errors: this.#scoreErrors,
      scores_skipped: this.#scoresSkipped,
      open_runs: this.#runs.size,
      ...this.#auth.cooldown.stats(),
    });
    const lastError = tracing.lastError ?? this.#scoreError;
    if (lastError) status.last_error = this.#scrub(lastError);
    return Object.assign(status, this.#hooks.problems(this.#scrub));
  }

  #delivered(): number {
    return (this.#tracing?.counters().spans_exported ?? 0) + this.#scoresSent;
  }

  /** Export counters, scores and the auth pause. */
  stats(): LangfuseStats {
    const counters = this.#tracing?.counters() ?? {
      spans_ended: 0,
      spans_exported: 0,
      spans_failed: 0,
      spans_dropped: 0,
      spans_skipped: 0,
    };
    const stats: LangfuseStats = {
      ...counters,
      scores_sent: this.#scoresSent,
      score_errors: this.#scoreErrors,
      scores_skipped: this.#scoresSkipped,
      bad_events: this.#hooks.errors,
      ...this.#auth.cooldown.stats(),
    };
    const lastError = this.#tracing?.lastError ?? this.#scoreError ?? this.#hooks.lastError;
    if (lastError) stats.last_error = this.#scrub(lastError);
    return stats;
  }

  /** The Langfuse trace id of a run (a 32-hex OpenTelemetry id derived from the run id). */
  getTraceId(runId: string): string | undefined {
    this.#hooks.drain();
    return this.#runs.get(runId)?.traceId ?? this.#ended.get(runId)?.traceId;
  }

  /**
   * Backpressure when the export queue is near full (see PrivateTracing.whenRoomAfter): hook
   * calls still queued that could fill it run first, so a hold only waits for an export.
   */
  #room(): Promise<void> | undefined {
    return this.#tracing?.whenRoomAfter(this.#hooks);
  }

  onRunStart(runId: string, start: RunStart): Promise<void> | undefined {
    this.#hooks.run(() => this.#onRunStart(runId, start));
    return this.#room();
  }

  onStep(runId: string, record: StepRecord): Promise<void> | undefined {
    this.#hooks.run(() => this.#onStep(runId, record));
    return this.#room();
  }

  onRunEnd(runId: string, end: RunEnd): Promise<void> | undefined {
    this.#hooks.run(() => this.#onRunEnd(runId, end));
    return this.#room();
  }

  /**
   * A score or feedback → a Langfuse score on the run's trace: `NUMERIC` for numbers (and
   * the seed's end-of-run `completed`, 1 or 0), `BOOLEAN` (1/0) for other booleans,
   * `CATEGORICAL` for strings; on the step's observation when it
   * names a step, on a nested run's observation, else on the trace; metadata `{kind, source}`.
   * Late feedback (after the run ended) lands on the same trace.
   */
  onScore(runId: string, score: ScoreRecord): Promise<void> | undefined {
    this.#hooks.run(() => this.#onScore(runId, score));
    return this.#room();
  }

  #onRunStart(runId: string, start: RunStart): void {
    const tracing = this.#tracing;
    if (!tracing || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const s = isObject(start) ? start : ({} as RunStart);
    const parentRun = typeof s.parentRunId === 'string' ? this.#runs.get(s.parentRunId) : undefined;
    const parent = runParentContext(s.traceparent, parentRun?.context);
    const isRoot = trace.getSpanContext(parent) === undefined;
    const environment = str(s.environment) ?? '';
    // The task whole, as the original sends `input={"task": task}` (the coordinator's own
    // limits and content switches apply before it gets here).
    const task = str(s.task) ?? '';
    const params = isObject(s.params) ? s.params : {};
    const who = runIdentity(s);
    // Langfuse's trace attributes (`session.id`, `user.id`), on every span of the run as
    // Langfuse's own propagation does.
    const identity = identityAttributes(who);
    // The run's custom attributes: metadata of the run and of every span in it.
    const custom = customAttributes(s.attributes, 'langfuse.observation.metadata.');
    const attributes: Attributes = {
      'langfuse.observation.type': 'agent',
      'langfuse.observation.input': json(task),
      ...metadata('langfuse.observation.metadata', { run_id: id, environment, params }),
      ...custom,
      ...identity,
    };
    if (isRoot) {
      // Trace-level fields only for the root run: a nested run is a child observation.
      Object.assign(attributes, {
        'langfuse.trace.name': 'rlm-run',
        'langfuse.trace.input': json(task),
        'langfuse.trace.tags': [...new Set(['rlm', environment, ...who.tags])],
        ...metadata('langfuse.trace.metadata', { run_id: id, environment, params }),
      });
    }
    const startMs = timeOf(s.startedAt) ?? this.#hooks.now();
    tracing.ids.nextTraceId = traceIdFromRunId(id);
    tracing.ids.nextSpanId = spanIdFromRunId(id);
    const span = tracing.tracer.startSpan(
      isRoot ? 'rlm-run' : `rlm-run ${id}`,
      { startTime: startMs, attributes },
      parent,
    );
    tracing.ids.reset();
    holdRun(
      this.#runs,
      id,
      {
        span,
        context: trace.setSpan(parent, span),
        traceId: span.spanContext().traceId,
        startMs,
        lastStepEnd: startMs,
        root: isRoot,
        identity,
        custom,
      },
      this.#maxOpenRuns,
      tracing,
    );
    this.#steps.start(id);
  }

  #onStep(runId: string, record: StepRecord): void {
    const tracing = this.#tracing;
    if (!tracing || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const r = isObject(record) ? record : ({} as StepRecord);
    const event: StepEvent = isObject(r.event) ? r.event : {};
    const run = this.#runs.get(id);
    const parent = run?.context ?? derivedRunContext(id);
    const action = isObject(event.action) ? event.action : {};
    const observation = isObject(event.observation) ? event.observation : {};
    const step = this.#steps.next(id, num(event.step));
    const reward = num(event.reward) ?? 0;
    const duration = num(event.durationMs);
    const startMs = timeOf(event.startedAt) ?? run?.lastStepEnd ?? this.#hooks.now();
    const endMs =
      duration !== undefined
        ? startMs + Math.max(0, duration)
        : Math.max(startMs, this.#hooks.now());
    const failed = observation.success !== true;
    const input: Record<string, unknown> = { action: str(action.action) ?? 'unknown' };
    const code = str(action.code);
    if (code) input.code = truncate(code, this.#limits.code);
    const output: Record<string, unknown> = { success: observation.success === true };
    const out = str(observation.output);
    if (out) output.output = truncate(out, this.#limits.output);
    const attributes: Attributes = {
      // The run's custom attributes first: the step's own of the same name win.
      ...run?.custom,
      'langfuse.observation.type': 'span',
      'langfuse.observation.input': json(input),
      'langfuse.observation.output': json(output),
      ...metadata('langfuse.observation.metadata', {
        step,
        reward,
        cumulative_reward: num(r.cumulativeReward) ?? 0,
      }),
      'langfuse.observation.level': failed ? 'ERROR' : 'DEFAULT',
      ...customAttributes(event.attributes, 'langfuse.observation.metadata.'),
      ...run?.identity,
    };
    const error = failed
      ? truncate(str(observation.error) ?? 'step failed', this.#limits.error)
      : '';
    if (failed) attributes['langfuse.observation.status_message'] = error;
    tracing.ids.nextSpanId = spanIdFromRunId(id, step);
    const span = tracing.tracer.startSpan(
      `step-${step}`,
      { startTime: startMs, attributes },
      parent,
    );
    tracing.ids.reset();
    // LLM usage: a generation per call, a child of the step.
    const usages = stepUsages(event);
    const stepContext = trace.setSpan(parent, span);
    usages.forEach((usage, i) => {
      const details: Record<string, number> = {
        input: usage.inputTokens,
        output: usage.outputTokens,
        total: usage.totalTokens,
      };
      if (usage.cacheReadTokens) details.input_cache_read = usage.cacheReadTokens;
      if (usage.cacheWriteTokens) details.input_cache_creation = usage.cacheWriteTokens;
      if (usage.reasoningTokens) details.output_reasoning = usage.reasoningTokens;
      const genAttributes: Attributes = {
        ...run?.custom,
        'langfuse.observation.type': 'generation',
        'langfuse.observation.usage_details': json(details),
      };
      if (usage.model) genAttributes['langfuse.observation.model.name'] = usage.model;
      if (usage.costUsd !== undefined)
        genAttributes['langfuse.observation.cost_details'] = json({ total: usage.costUsd });
      tracing.ids.nextSpanId = spanIdFromRunId(id, `${step}:llm:${i}`);
      const generation = tracing.tracer.startSpan(
        usage.model ?? 'llm',
        { startTime: startMs, attributes: genAttributes },
        stepContext,
      );
      tracing.ids.reset();
      generation.end(endMs);
      tracing.ended();
    });
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    span.end(endMs);
    tracing.ended();
    if (run) run.lastStepEnd = endMs;
  }

  #onRunEnd(runId: string, end: RunEnd): void {
    const tracing = this.#tracing;
    if (!tracing || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const e = isObject(end) ? end : ({} as RunEnd);
    const result = isObject(e.result) ? e.result : {};
    let run = this.#runs.get(id);
    if (!run) {
      this.#onRunStart(id, impliedStart(result));
      run = this.#runs.get(id);
      if (!run) return;
    }
    this.#runs.delete(id);
    const completed = result.completed === true;
    const totalReward = num(result.totalReward) ?? 0;
    const output: Record<string, unknown> = {
      completed,
      steps: num(result.steps) ?? 0,
      total_reward: totalReward,
    };
    const answer = str(result.finalAnswer);
    if (answer) output.final_answer = truncate(answer, this.#limits.finalAnswer);
    run.span.setAttribute('langfuse.observation.output', json(output));
    if (run.root) run.span.setAttribute('langfuse.trace.output', json(output));
    if (!completed) {
      run.span.setAttribute('langfuse.observation.level', 'WARNING');
      run.span.setAttribute(
        'langfuse.observation.status_message',
        truncate(str(result.error) ?? 'Run did not complete', this.#limits.error),
      );
    }
    run.span.end(Math.max(timeOf(result.finishedAt) ?? this.#hooks.now(), run.startMs));
    tracing.ended();
    remember(this.#ended, id, { traceId: run.traceId, root: run.root }, this.#maxOpenRuns * 2);
  }

  #onScore(runId: string, record: ScoreRecord): void {
    if (!this.#tracing || !this.#apiHeaders || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const score = readScore(record, this.#limits.score);
    const run = this.#runs.get(id) ?? this.#ended.get(id);
    // A run never seen here: its derived trace, as a root run.
    const traceId = run?.traceId ?? traceIdFromRunId(id);
    const observationId =
      score.step !== undefined
        ? spanIdFromRunId(id, score.step)
        : run && !run.root
          ? spanIdFromRunId(id)
          : undefined;
    if (this.#scores.length >= MAX_QUEUED_SCORES) {
      this.#scoreErrors++;
      return;
    }
    const value =
      typeof score.value === 'boolean' ? (score.value ? 1 : 0) : (score.value as number | string);
    // The seed's end-of-run `completed` is a number, 1.0 or 0.0 (as the original sends it);
    // a caller's boolean score or feedback (a thumbs up) is a BOOLEAN score.
    const numeric =
      typeof score.value === 'number' ||
      (score.source === 'rlm-obs' && score.name === 'completed' && score.kind === 'score');
    // Ids derived from the trace and the score's time, so a replay updates a score instead of
    // duplicating it, and a second score of the same name (two users' thumbs) is a second
    // score. The end-of-run `reward` and `completed` are one per run: no time in theirs.
    const own =
      score.source === 'rlm-obs'
        ? ''
        : `-${score.kind}-${score.source ?? ''}${score.atMs !== undefined ? `-${score.atMs}` : ''}`;
    this.#scores.push({
      id: `${traceId}-${observationId ?? 'trace'}-${score.name}${own}`,
      traceId,
      ...(observationId ? { observationId } : {}),
      name: score.name,
      value,
      dataType: numeric ? 'NUMERIC' : typeof score.value === 'boolean' ? 'BOOLEAN' : 'CATEGORICAL',
      ...(score.comment !== undefined ? { comment: score.comment } : {}),
      metadata: {
        kind: score.kind,
        ...(score.source !== undefined ? { source: score.source } : {}),
      },
      ...(this.#environment ? { environment: this.#environment } : {}),
    });
    // "Then flush", as the original does at the end of a run: scores go out within a second
    // (one batch for scores given together); the spans follow the processor's interval.
    this.#scheduleScoreFlush();
  }

  #scoreTimer: ReturnType<typeof setTimeout> | undefined;
  #scheduleScoreFlush(): void {
    if (this.#scoreTimer) return;
    this.#scoreTimer = setTimeout(() => {
      this.#scoreTimer = undefined;
      this.#flushScores().catch(() => {
        // counted in #flushScores; the next forceFlush reports it
      });
    }, 1000);
    this.#scoreTimer.unref?.();
  }

  /** `rlm-obs doctor`: the keys are accepted (at setup, and by the exports since). */
  async check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    await this.ready;
    const auth = this.#auth.detail();
    if (this.#available && auth)
      return {
        ok: false,
        detail: safeEndpoint(this.baseUrl),
        problems: [
          {
            problem: `Langfuse refused the keys: ${auth}`,
            fix: 'check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (project settings → API keys) and that they belong to LANGFUSE_HOST; sending resumes by itself when the pause ends',
          },
        ],
      };
    // Langfuse is asked now (`rlm-obs doctor`, a replay's check): the setup's answer may be old.
    if (this.#apiHeaders && !auth) {
      try {
        await this.#request('GET', '/api/public/projects', CHECK_TIMEOUT_MS);
        if (!this.#available && this.#deliveredAtCheck >= 0) {
          // The check failed at setup (Langfuse was down): it answers now.
          this.#deliveredAtCheck = -1;
          this.#available = true;
          this.#detail = safeEndpoint(this.baseUrl);
        }
        return { ok: true, problems: [], detail: `${safeEndpoint(this.baseUrl)}: keys accepted` };
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        const refusedNow = status === 401 || status === 403;
        return {
          ok: false,
          detail: safeEndpoint(this.baseUrl),
          problems: [
            refusedNow
              ? {
                  problem: `Langfuse at ${safeEndpoint(this.baseUrl)} refused the keys (HTTP ${status})`,
                  fix: 'check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (project settings → API keys) and that they belong to LANGFUSE_HOST',
                }
              : {
                  problem: `cannot reach ${safeEndpoint(this.baseUrl)}: ${this.#scrub(error).split('\n')[0]}`,
                  fix: 'check LANGFUSE_HOST (or LANGFUSE_BASE_URL) and that Langfuse is reachable from here',
                },
          ],
        };
      }
    }
    if (this.#available)
      return { ok: true, problems: [], detail: `${safeEndpoint(this.baseUrl)}: keys accepted` };
    const refused = /refused/.test(this.#detail);
    const control = /control character/.test(this.#detail);
    return {
      ok: false,
      detail: safeEndpoint(this.baseUrl),
      problems: [
        {
          problem: this.#detail.replace(/^unavailable: /, ''),
          fix: refused
            ? 'check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (project settings → API keys) and that they belong to LANGFUSE_HOST'
            : control
              ? 'copy the key again (project settings → API keys): a line break or control character inside it cannot be sent'
              : 'set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_HOST (or LANGFUSE_BASE_URL)',
        },
      ],
    };
  }

  /** Exports the spans and sends the scores; rejects when spans were lost. */
  async forceFlush(): Promise<void> {
    this.#hooks.drain();
    await this.#tracing?.flush([this.#flushScores()]);
  }

  shutdown(): Promise<void> {
    this.#hooks.drain();
    this.#shutdown ??= (async () => {
      for (const [, run] of this.#runs) {
        run.span.setAttribute('langfuse.observation.metadata.incomplete', 'true');
        run.span.end();
        this.#tracing?.ended();
      }
      this.#runs.clear();
      await this.#tracing?.shutdown([this.#flushScores()]);
    })();
    return this.#shutdown;
  }

  /**
   * Sends the queued scores in one ingestion batch (`score-create` events, as the API client
   * does), counting what fails (the SDK's own score queue only logs failures).
   */
  async #flushScores(): Promise<void> {
    const scores = this.#scores.splice(0);
    if (!this.#apiHeaders || scores.length === 0) return;
    if (this.#auth.paused) {
      // The keys were refused lately: don't knock again before the pause ends; count it.
      this.#auth.cooldown.skip(scores.length);
      this.#scoresSkipped += scores.length;
      this.#scoreErrors += scores.length;
      throw new Error(`${scores.length} scores not sent (${this.#auth.detail()})`);
    }
    const timestamp = new Date().toISOString();
    try {
      const response = (await this.#request(
        'POST',
        '/api/public/ingestion',
        this.#timeoutSeconds * 1000,
        {
          batch: scores.map((body) => ({
            id: `${body.id}-event`,
            type: 'score-create',
            timestamp,
            body,
          })),
        },
      )) as { errors?: unknown } | undefined;
      const refused = Array.isArray(response?.errors)
        ? Math.min(response.errors.length, scores.length)
        : 0;
      this.#scoreErrors += refused;
      this.#scoresSent += scores.length - refused;
      this.#auth.succeeded();
    } catch (error) {
      this.#scoreErrors += scores.length;
      this.#auth.failed(error);
      const status =
        typeof error === 'object' && error !== null
          ? (error as { statusCode?: unknown }).statusCode
          : undefined;
      this.#scoreError = `${scores.length} scores could not be sent: ${typeof status === 'number' ? `HTTP ${status}` : this.#scrub(error).split('\n')[0]}`;
      throw new Error(this.#scoreError);
    }
  }
}
