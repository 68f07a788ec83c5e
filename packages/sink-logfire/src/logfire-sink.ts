/**
 * `logfire`: seed 000's LogfireSink — a span `rlm.run {run_id}` per run with the seed's five
 * structured logs as its children — sent to Pydantic Logfire over OTLP/HTTP protobuf with
 * Logfire's own conventions, on a private provider.
 *
 * Why not `@pydantic/logfire-node`: its `configure()` starts a global NodeSDK with
 * auto-instrumentations and process listeners (and ~243 MB of packages); a sink must not do
 * that to its host. The `logfire` API package can only be pointed at another provider through
 * an undocumented mutable export. So this sink writes Logfire's conventions itself — the span
 * name is the message template, with `logfire.msg_template`, `logfire.msg`,
 * `logfire.level_num`, `logfire.span_type`, `logfire.tags` and `logfire.json_schema` — and
 * exports like any OTLP client Logfire accepts.
 */
import {
  type Attributes,
  type Context,
  createContextKey,
  context as otelContext,
  type Span,
  type Tracer,
  trace,
} from '@opentelemetry/api';
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
  createSpanExporter,
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
  scoreSpanId,
  secretScrubber,
  str,
  timeOf,
} from '@rlm/otel-common';

/** Logfire's level numbers. */
export const LEVELS = {
  trace: 1,
  debug: 5,
  info: 9,
  notice: 10,
  warning: 13,
  error: 17,
  fatal: 21,
} as const;

/** Options of the `logfire` sink. */
export interface LogfireSinkOptions {
  /** @defaultValue `true` (env `DSPY_RLM_LOGFIRE_ENABLED` with `createLogfireSinkFromEnv`) */
  enabled?: boolean;
  /** The write token (env `LOGFIRE_TOKEN`). Without one nothing is sent. */
  token?: string;
  /** @defaultValue `'rlm-code'` (env `LOGFIRE_PROJECT_NAME`) */
  projectName?: string;
  /** The Logfire API. @defaultValue from the token's region (env `LOGFIRE_BASE_URL`) */
  baseUrl?: string;
  /** `service.name`. @defaultValue the project name (env `LOGFIRE_SERVICE_NAME`) */
  serviceName?: string;
  /** `deployment.environment.name` (env `LOGFIRE_ENVIRONMENT`). */
  environment?: string;
  /**
   * Opt-in for applications that configured Logfire (or OpenTelemetry) themselves: emit
   * through their global tracer provider instead of a private one. No token needed; ids are
   * then the application's.
   * @defaultValue `false`
   */
  useGlobalProvider?: boolean;
  /** Extra `logfire.tags`. @defaultValue `['rlm']` */
  tags?: string[];
  /** @defaultValue `10000` */
  exportTimeoutMs?: number;
  /** @defaultValue `2048` */
  maxQueueSize?: number;
  /** @defaultValue `1000` */
  scheduledDelayMs?: number;
  /** Replace the OTLP exporter (tests). */
  spanExporter?: SpanExporter;
  /** Runs held open at once; the oldest is ended (`rlm.evicted`) beyond it. @defaultValue `10000` */
  maxOpenRuns?: number;
  /**
   * The pause after Logfire refused the token (HTTP 401/403): one minute, doubling up to
   * fifteen, ±20% jitter (`now` and `random` for tests).
   */
  authCooldown?: AuthCooldownOptions;
  /** @defaultValue `'logfire'` */
  name?: string;
  /**
   * How many characters of each text the sink sends; a longer one is cut and marked
   * (`…[truncated N chars]`). @defaultValue the seed's: `task` 200, `error` 200, `scoreText` 1000
   */
  limits?: LogfireLimits;
}

/** The sink's content limits (characters, whole numbers > 0). */
export interface LogfireLimits {
  /** The run's task on its span. @defaultValue `200` */
  task?: number;
  /** A failed step's error. @defaultValue `200` */
  error?: number;
  /** A score's string value and its comment. @defaultValue `1000` */
  scoreText?: number;
}

/** The seed's limits. */
export const DEFAULT_LIMITS: Readonly<Required<LogfireLimits>> = Object.freeze({
  task: 200,
  error: 200,
  scoreText: 1000,
});

/**
 * Logfire's regions, as its SDKs (Python `logfire`, `logfire-js`) map a token's region: `us`,
 * `eu`, and the staging ones; any other region (or a token of another shape) is the US one.
 */
const REGIONS: Readonly<Record<string, string>> = Object.freeze({
  us: 'https://logfire-us.pydantic.dev',
  eu: 'https://logfire-eu.pydantic.dev',
  stagingus: 'https://logfire-us.pydantic.info',
  stagingeu: 'https://logfire-eu.pydantic.info',
});

/** A write token: `pylf_v<N>_<region>_[<organization uuid>_]<token>` (as `logfire-js` reads it). */
const TOKEN_PATTERN =
  /^pylf_v[0-9]+_([a-z]+)_(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_)?[a-zA-Z0-9]+$/;

/**
 * The Logfire API for a token: `pylf_v1_eu_…` → `https://logfire-eu.pydantic.dev`, `pylf_v1_us_…`
 * → `https://logfire-us.pydantic.dev`; an unknown region, a legacy token or none → the US region
 * (never a made-up host).
 */
export function baseUrlForToken(token: string | undefined): string {
  const region = TOKEN_PATTERN.exec(token ?? '')?.[1];
  return (region !== undefined && Object.hasOwn(REGIONS, region) ? REGIONS[region] : REGIONS.us)!;
}

/**
 * OpenTelemetry's "suppress tracing" context key (`@opentelemetry/core`'s `suppressTracing`
 * sets the same one: `createContextKey` uses `Symbol.for`), so an application's HTTP/undici
 * instrumentation never records the sink's own requests.
 */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/** `fn` with OpenTelemetry tracing suppressed. */
function untraced<T>(fn: () => T): T {
  return otelContext.with(otelContext.active().setValue(SUPPRESS_TRACING, true), fn);
}

type Primitive = string | number | boolean;

/** A message template split at its `{key}`s, and the `logfire.json_schema` of its last key set. */
interface Template {
  /** Literal text at even indexes, `{key}` names at odd ones. */
  parts: string[];
  keys: string[];
  schema: string;
}
const TEMPLATES = new Map<string, Template>();

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Logfire's attributes for a message template and its values, then `more` (later keys win).
 * Called for every step: the template's parts and the schema of its key set, which repeats
 * from step to step, are computed once, and the object is one literal that starts with fixed
 * keys — in Node 20's V8 a spread copy that then gets more keys takes a new shape on every
 * call (~4 µs here, the sink's most expensive function in a profile).
 */
function conventions(
  template: string,
  values: Record<string, Primitive>,
  level: number,
  spanType: 'span' | 'log',
  tags: string[],
  extra?: Attributes,
  custom?: Attributes,
): Attributes {
  const keys = Object.keys(values);
  let compiled = TEMPLATES.get(template);
  if (compiled === undefined) {
    if (TEMPLATES.size >= 256) TEMPLATES.clear();
    compiled = { parts: template.split(/\{(\w+)\}/), keys: [], schema: '' };
    TEMPLATES.set(template, compiled);
  }
  if (compiled.schema === '' || !sameKeys(compiled.keys, keys)) {
    const properties: Record<string, object> = {};
    for (const key of keys) properties[key] = {};
    compiled.keys = keys;
    compiled.schema = JSON.stringify({ type: 'object', properties });
  }
  const parts = compiled.parts;
  let message = parts[0]!;
  for (let i = 1; i < parts.length; i += 2) {
    const key = parts[i]!;
    message += (key in values ? String(values[key]) : `{${key}}`) + parts[i + 1]!;
  }
  // Custom attributes (the coordinator's, the run's, the step's) first: they never replace
  // the log's own fields (`step`, `reward`, `name`…), its `extra` (identity, model, cost) or
  // Logfire's conventions, which the values and `extra` never use.
  return {
    ...custom,
    ...values,
    ...extra,
    'logfire.msg_template': template,
    'logfire.msg': message,
    'logfire.level_num': level,
    'logfire.span_type': spanType,
    'logfire.json_schema': compiled.schema,
    'logfire.tags': tags,
  };
}

interface OpenRun {
  span: Span;
  context: Context;
  startMs: number;
  lastStepEnd: number;
  /** The sink's tags and the run's own (`logfire.tags` of the run and its logs). */
  tags: string[];
  /** `session.id`, `user.id`. */
  identity: Attributes;
  /** The run's custom attributes (the coordinator's and the run's own): on every log too. */
  custom: Attributes;
}

/** What the sink remembers of a run that ended, for late scores and late steps. */
interface EndedRun {
  traceId: string;
  tags: string[];
  identity: Attributes;
  custom: Attributes;
}

/** What an HTTP header cannot carry: a token with one would fail every export. */
const NOT_IN_HEADER = /[^\x20-\x7e\x80-\xff]/;

/** Stats of the sink: span counters, bad events, the auth pause. */
export type LogfireStats = SpanCounters & {
  bad_events: number;
  last_error?: string;
  authFailures: number;
  authSkipped: number;
  authPausedUntil: string | null;
};

/**
 * The `logfire` sink.
 *
 * @example
 * ```ts
 * const sink = new LogfireSink({ token: process.env.LOGFIRE_TOKEN, projectName: 'my-rlm-project' });
 * sink.status(); // { name: 'logfire', enabled: true, available: true, detail: 'project: my-rlm-project', project_name: 'my-rlm-project' }
 * ```
 */
/** How long `check()` waits for Logfire to answer its probe. */
const PROBE_TIMEOUT_MS = 5_000;

export class LogfireSink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  readonly enabled: boolean;
  readonly projectName: string;
  /** Where spans go (without the token). */
  readonly baseUrl: string;

  readonly #tags: string[];
  #tracing: PrivateTracing | undefined;
  #tracer: Tracer | undefined;
  #available = false;
  #detail: string;
  #runs = new Map<string, OpenRun>();
  #ended = new Map<string, EndedRun>();
  /** Step numbers for the span ids (steps without a number are the n-th of their run). */
  readonly #steps: StepSequence;
  readonly #maxOpenRuns: number;
  readonly #hooks = new HookGuard(() => this.#tracing?.ids.reset());
  readonly #auth: ExportAuth;
  /** Masks the token and URL credentials in every text `status()`, `stats()` and `check()` show. */
  readonly #scrub: Scrub;
  /** The write token, for `check()`'s probe; unset with a custom exporter or the global provider. */
  readonly #probeToken: string | undefined;
  readonly #limits: Required<LogfireLimits>;
  #shutdown: Promise<void> | undefined;

  constructor(options: LogfireSinkOptions = {}) {
    this.name = options.name ?? 'logfire';
    const limits = readContentLimits(DEFAULT_LIMITS, options.limits);
    this.#limits = 'limits' in limits ? limits.limits : { ...DEFAULT_LIMITS };
    this.#maxOpenRuns = Math.max(1, options.maxOpenRuns ?? DEFAULT_MAX_OPEN_RUNS);
    this.#steps = new StepSequence(this.#maxOpenRuns * 2);
    this.enabled = options.enabled !== false;
    this.projectName = options.projectName ?? 'rlm-code';
    // A token from a `.env` file with CRLF line ends keeps a `\r`: the header would refuse it
    // on every export while `fetch` (the check's probe) trims it and says all is well.
    const token = options.token?.trim() || undefined;
    this.baseUrl = (options.baseUrl ?? baseUrlForToken(token)).replace(/\/+$/, '');
    this.#tags = options.tags ?? ['rlm'];
    this.#detail = 'disabled';
    this.#auth = new ExportAuth(new AuthCooldown(options.authCooldown));
    this.#scrub = secretScrubber({ secrets: [token, options.token], urls: [this.baseUrl] });
    this.#probeToken = options.spanExporter || options.useGlobalProvider ? undefined : token;
    if (!this.enabled) return;
    if ('problem' in limits) {
      this.#detail = `unavailable: ${limits.problem}`;
      return;
    }
    if (options.useGlobalProvider) {
      // The application's own Logfire/OpenTelemetry configuration exports for us.
      this.#tracer = trace.getTracer('rlm-obs', '0.1.0');
      this.#available = true;
      this.#detail = `project: ${this.projectName}`;
      return;
    }
    if (!token && !options.spanExporter) {
      this.#detail =
        'unavailable: no token (set LOGFIRE_TOKEN, or useGlobalProvider when the application configured Logfire itself)';
      return;
    }
    if (token && !options.spanExporter && NOT_IN_HEADER.test(token)) {
      // Named, never shown.
      this.#detail =
        'unavailable: the token (LOGFIRE_TOKEN) has a line break or another control character inside';
      return;
    }
    try {
      this.#tracing = new PrivateTracing({
        resource: {
          'service.name': options.serviceName ?? this.projectName,
          'telemetry.sdk.name': 'rlm-obs',
          ...(options.environment ? { 'deployment.environment.name': options.environment } : {}),
        },
        exporter:
          options.spanExporter ??
          createSpanExporter({
            endpoint: this.baseUrl,
            protocol: 'http/protobuf',
            // Logfire takes the bare token, no "Bearer".
            headers: { Authorization: token! },
            timeoutMs: options.exportTimeoutMs ?? 10_000,
          }),
        endpoint: this.baseUrl,
        auth: this.#auth,
        scrub: this.#scrub,
        tracerName: 'rlm-obs',
        ...(options.maxQueueSize !== undefined ? { maxQueueSize: options.maxQueueSize } : {}),
        ...(options.scheduledDelayMs !== undefined
          ? { scheduledDelayMs: options.scheduledDelayMs }
          : {}),
        exportTimeoutMs: options.exportTimeoutMs ?? 10_000,
      });
      this.#tracer = this.#tracing.tracer;
      this.#available = true;
      this.#detail = `project: ${this.projectName}`;
    } catch (error) {
      this.#detail = `setup failed: ${this.#scrub(error)}`;
    }
  }

  /**
   * The seed's status: `{name, enabled, available, detail, project_name}`; after Logfire
   * refused the token the detail says so (and for how long exports are paused). A sink that
   * exports itself adds its export counters (`spans_ended`, `spans_exported`, `spans_failed`,
   * `spans_dropped`, `spans_skipped`) and, once an export failed, `last_error` (no secret):
   * losses show in the status, not only in `stats()`.
   */
  status(): SinkStatus {
    const auth = this.#auth.detail();
    const status: SinkStatus = {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      detail: auth ? `${this.#detail}; ${auth}` : this.#detail,
      project_name: this.projectName,
    };
    if (this.#tracing) {
      Object.assign(status, this.#tracing.counters());
      const lastError = this.#tracing.lastError;
      if (lastError) status.last_error = this.#scrub(lastError);
    }
    return Object.assign(status, this.#hooks.problems(this.#scrub));
  }

  /** Export counters and the auth pause (the status keeps the seed's shape). */
  stats(): LogfireStats {
    const counters = this.#tracing?.counters() ?? {
      spans_ended: 0,
      spans_exported: 0,
      spans_failed: 0,
      spans_dropped: 0,
      spans_skipped: 0,
    };
    const stats: LogfireStats = {
      ...counters,
      bad_events: this.#hooks.errors,
      ...this.#auth.cooldown.stats(),
    };
    const lastError = this.#tracing?.lastError ?? this.#hooks.lastError;
    if (lastError) stats.last_error = this.#scrub(lastError);
    return stats;
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
   * A score or feedback: an info log `RLM score {name} = {value}` under the run's span (open
   * or ended: the run's trace, by its derived ids), with `kind`, `comment`, `source`, `step`.
   */
  onScore(runId: string, score: ScoreRecord): Promise<void> | undefined {
    this.#hooks.run(() => this.#onScore(runId, score));
    return this.#room();
  }

  #onRunStart(runId: string, start: RunStart): void {
    if (!this.#tracer || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const s = isObject(start) ? start : ({} as RunStart);
    const params = isObject(s.params) ? s.params : {};
    const parentRun = typeof s.parentRunId === 'string' ? this.#runs.get(s.parentRunId) : undefined;
    const parent = runParentContext(s.traceparent, parentRun?.context);
    const startMs = timeOf(s.startedAt) ?? this.#hooks.now();
    const environment = str(s.environment) ?? '';
    const values: Record<string, Primitive> = {
      run_id: id,
      task: truncate(str(s.task) ?? '', this.#limits.task),
      environment,
      max_steps: num(params.max_steps) ?? 0,
    };
    const who = runIdentity(s);
    const tags = who.tags.length > 0 ? [...new Set([...this.#tags, ...who.tags])] : this.#tags;
    const identity = identityAttributes(who);
    const custom = customAttributes(s.attributes);
    const attributes = conventions(
      'rlm.run {run_id}',
      values,
      LEVELS.info,
      'span',
      tags,
      identity,
      custom,
    );
    if (typeof s.parentRunId === 'string') attributes.parent_run_id = s.parentRunId;
    const span = this.#startSpan(
      'rlm.run {run_id}',
      attributes,
      parent,
      startMs,
      traceIdFromRunId(id),
      spanIdFromRunId(id),
    );
    const context = trace.setSpan(parent, span);
    holdRun(
      this.#runs,
      id,
      // Steps that came before the start (a run this sink had not seen start) count.
      {
        span,
        context,
        startMs,
        lastStepEnd: startMs,
        tags,
        identity,
        custom,
      },
      this.#maxOpenRuns,
      this.#tracing,
    );
    this.#steps.start(id);
    this.#log(
      context,
      'RLM run started',
      { run_id: id, environment },
      LEVELS.info,
      startMs,
      spanIdFromRunId(id, 'start'),
      identity,
      tags,
      custom,
    );
  }

  #onStep(runId: string, record: StepRecord): void {
    if (!this.#tracer || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const r = isObject(record) ? record : ({} as StepRecord);
    const event: StepEvent = isObject(r.event) ? r.event : {};
    const run = this.#runs.get(id);
    const context = run?.context ?? derivedRunContext(id);
    const action = isObject(event.action) ? event.action : {};
    const observation = isObject(event.observation) ? event.observation : {};
    const step = this.#steps.next(id, num(event.step));
    const reward = num(event.reward) ?? 0;
    const duration = num(event.durationMs);
    const startMs = timeOf(event.startedAt) ?? run?.lastStepEnd ?? this.#hooks.now();
    const at =
      duration !== undefined
        ? startMs + Math.max(0, duration)
        : Math.max(startMs, this.#hooks.now());
    const actionType = str(action.action) ?? 'unknown';
    const extra: Record<string, Primitive> = {};
    const usages = stepUsages(event);
    if (usages.length > 0) {
      let input = 0;
      let output = 0;
      let cost = 0;
      for (const u of usages) {
        input += u.inputTokens;
        output += u.outputTokens;
        cost += u.costUsd ?? 0;
      }
      if (usages[0]!.model) extra['gen_ai.request.model'] = usages[0]!.model;
      extra['gen_ai.usage.input_tokens'] = input;
      extra['gen_ai.usage.output_tokens'] = output;
      // Logfire's own name for an LLM call's cost in USD (it sums it per trace).
      if (cost > 0) extra['operation.cost'] = cost;
    }
    if (run) Object.assign(extra, run.identity);
    if (isObject(event.cache)) {
      // rlm.* like every attribute of ours; seed 002 calls them cache_status, cache_signature.
      if (typeof event.cache.status === 'string') extra['rlm.cache.status'] = event.cache.status;
      if (typeof event.cache.key === 'string') extra['rlm.cache.key'] = event.cache.key;
    }
    // The run's custom attributes, then the step's own (which win).
    const stepCustom = customAttributes(event.attributes);
    const custom = run ? { ...run.custom, ...stepCustom } : stepCustom;
    if (observation.success === false) {
      this.#log(
        context,
        'RLM step {step} failed',
        {
          step,
          run_id: id,
          action: actionType,
          error: truncate(str(observation.error) ?? '', this.#limits.error),
          reward,
        },
        LEVELS.warning,
        at,
        spanIdFromRunId(id, step),
        extra,
        run?.tags,
        custom,
      );
    } else {
      this.#log(
        context,
        'RLM step {step} completed',
        {
          step,
          run_id: id,
          action: actionType,
          reward,
          cumulative_reward: num(r.cumulativeReward) ?? 0,
        },
        LEVELS.info,
        at,
        spanIdFromRunId(id, step),
        extra,
        run?.tags,
        custom,
      );
    }
    if (run) run.lastStepEnd = at;
  }

  #onRunEnd(runId: string, end: RunEnd): void {
    if (!this.#tracer || this.#shutdown) return;
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
    const endMs = Math.max(timeOf(result.finishedAt) ?? this.#hooks.now(), run.startMs);
    const values = {
      run_id: id,
      steps: num(result.steps) ?? 0,
      total_reward: num(result.totalReward) ?? 0,
    };
    if (completed)
      this.#log(
        run.context,
        'RLM run completed',
        values,
        LEVELS.info,
        endMs,
        spanIdFromRunId(id, 'end'),
        run.identity,
        run.tags,
        run.custom,
      );
    else
      this.#log(
        run.context,
        'RLM run did not complete',
        values,
        LEVELS.warning,
        endMs,
        spanIdFromRunId(id, 'end'),
        run.identity,
        run.tags,
        run.custom,
      );
    if (!completed) run.span.setAttribute('logfire.level_num', LEVELS.warning);
    run.span.end(endMs);
    this.#tracing?.ended();
    remember(
      this.#ended,
      id,
      {
        traceId: run.span.spanContext().traceId,
        tags: run.tags,
        identity: run.identity,
        custom: run.custom,
      },
      this.#maxOpenRuns * 2,
    );
  }

  #onScore(runId: string, record: ScoreRecord): void {
    if (!this.#tracer || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const score = readScore(record, this.#limits.scoreText);
    const run = this.#runs.get(id);
    const ended = run ? undefined : this.#ended.get(id);
    const context = run?.context ?? derivedRunContext(id, ended?.traceId);
    const values: Record<string, Primitive> = {
      name: score.name,
      value: score.value,
      kind: score.kind,
      run_id: id,
    };
    if (score.step !== undefined) values.step = score.step;
    if (score.comment !== undefined) values.comment = score.comment;
    if (score.source !== undefined) values.source = score.source;
    const at = Math.max(score.atMs ?? this.#hooks.now(), run?.startMs ?? 0);
    this.#log(
      context,
      'RLM score {name} = {value}',
      values,
      LEVELS.info,
      at,
      scoreSpanId(id, score),
      run?.identity ?? ended?.identity,
      run?.tags ?? ended?.tags,
      run?.custom ?? ended?.custom,
    );
  }

  /** `rlm-obs doctor`: a token is set and the Logfire API accepts it. */
  async check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    if (!this.#available)
      return {
        ok: false,
        problems: [
          {
            problem: this.#detail,
            fix: /control character/.test(this.#detail)
              ? 'copy the token again into LOGFIRE_TOKEN (logfire.pydantic.dev → project settings → write tokens): a line break or control character inside it cannot be sent'
              : 'set LOGFIRE_TOKEN to a write token of your project (logfire.pydantic.dev → project settings → write tokens)',
          },
        ],
      };
    if (!this.#tracing)
      return {
        ok: true,
        problems: [],
        detail: 'using the application’s own Logfire configuration',
      };
    const tokenFix = 'the token was refused: create a new write token and set LOGFIRE_TOKEN';
    // Where spans go, without credentials: `baseUrl` may carry a `user:password@`.
    const where = safeEndpoint(this.baseUrl);
    if (this.#auth.paused)
      return {
        ok: false,
        detail: where,
        problems: [{ problem: `Logfire refused the token: ${this.#auth.detail()}`, fix: tokenFix }],
      };
    try {
      await this.#tracing.flush();
      // Nothing waited to be exported, or it went: ask Logfire itself whether it takes spans
      // with this token (a flush with nothing to send proves nothing).
      const refused = await this.#probe();
      if (refused)
        return {
          ok: false,
          detail: where,
          problems: [
            {
              problem: refused.problem,
              fix: refused.auth
                ? tokenFix
                : 'check the network to the Logfire API, or LOGFIRE_BASE_URL',
            },
          ],
        };
      return { ok: true, problems: [], detail: `project: ${this.projectName} at ${where}` };
    } catch (error) {
      const reason = this.#scrub(error);
      const auth = this.#auth.paused || /\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(reason);
      return {
        ok: false,
        detail: where,
        problems: [
          {
            problem: reason,
            fix: auth ? tokenFix : 'check the network to the Logfire API, or LOGFIRE_BASE_URL',
          },
        ],
      };
    }
  }

  /**
   * An empty OTLP export (a valid request that carries no span) to Logfire's traces endpoint
   * with the token: undefined when Logfire takes it, else what went wrong (unreachable, the
   * token refused, no such endpoint, a server error).
   */
  async #probe(): Promise<{ problem: string; auth: boolean } | undefined> {
    if (!this.#probeToken) return undefined;
    const where = safeEndpoint(this.baseUrl);
    let url: URL;
    try {
      url = new URL(`${this.baseUrl}/v1/traces`);
      url.username = '';
      url.password = '';
    } catch {
      return { problem: `the base URL ${where} is not a URL`, auth: false };
    }
    try {
      const token = this.#probeToken;
      // The sink's own request: an application's HTTP instrumentation must not record it.
      const response = await untraced(() =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', authorization: token },
          body: new Uint8Array(0),
          signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
        }),
      );
      await response.arrayBuffer().catch(() => undefined);
      const status = response.status;
      // A complaint about the (empty) request itself still means Logfire took the token; only
      // a refused token, a wrong address (404) and server errors are problems.
      if (status < 400 || (status < 500 && status !== 401 && status !== 403 && status !== 404))
        return undefined;
      const auth = status === 401 || status === 403;
      return {
        problem: auth
          ? `Logfire refused the token (HTTP ${status})`
          : `${where} answered HTTP ${status} to an export`,
        auth,
      };
    } catch (error) {
      const cause = (error as { cause?: unknown })?.cause;
      const reason = this.#scrub(cause instanceof Error ? cause : error);
      return { problem: `cannot reach ${where}: ${reason}`, auth: false };
    }
  }

  async forceFlush(): Promise<void> {
    this.#hooks.drain();
    await this.#tracing?.flush();
  }

  /** Ends runs still open (so their logs keep a parent), exports everything. Idempotent. */
  shutdown(): Promise<void> {
    this.#hooks.drain();
    this.#shutdown ??= (async () => {
      for (const [, run] of this.#runs) {
        run.span.setAttribute('rlm.incomplete', true);
        run.span.end();
        this.#tracing?.ended();
      }
      this.#runs.clear();
      await this.#tracing?.shutdown();
    })();
    return this.#shutdown;
  }

  #startSpan(
    name: string,
    attributes: Attributes,
    parent: Context,
    startMs: number,
    traceId?: string,
    spanId?: string,
  ): Span {
    const ids = this.#tracing?.ids;
    if (ids) {
      ids.nextTraceId = traceId;
      ids.nextSpanId = spanId;
    }
    const span = this.#tracer!.startSpan(name, { startTime: startMs, attributes }, parent);
    ids?.reset();
    return span;
  }

  /** A Logfire log: a zero-length span of type `log`. */
  #log(
    parent: Context,
    template: string,
    values: Record<string, Primitive>,
    level: number,
    at: number,
    spanId: string,
    extra?: Attributes,
    tags: string[] = this.#tags,
    custom?: Attributes,
  ): void {
    const span = this.#startSpan(
      template,
      conventions(template, values, level, 'log', tags, extra, custom),
      parent,
      at,
      undefined,
      spanId,
    );
    span.end(at);
    this.#tracing?.ended();
  }

  /** A hook never throws into the coordinator, whatever the input. */
}
