/**
 * `opentelemetry`: seed 004's OpenTelemetrySink — an `rlm.run` span per run with an
 * `rlm.step` child per step, the seed's attributes, events and statuses, and four metrics —
 * on its own TracerProvider and MeterProvider, never the global ones.
 *
 * Beyond the seed: step spans carry real timing; nested runs are children of their parent's
 * span and a `traceparent` joins runs across processes; trace and span ids derive from the
 * run id and step, so a replay yields the same ids; LLM usage as `gen_ai.*` attributes.
 */
import { connect } from 'node:net';
import {
  type Attributes,
  type Context,
  type Counter,
  context,
  type Histogram,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
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
  type ExporterSettings,
  HookGuard,
  holdRun,
  identityAttributes,
  impliedStart,
  isObject,
  num,
  type OtlpProtocol,
  PrivateTracing,
  readScore,
  remember,
  runIdentity,
  runParentContext,
  type Scrub,
  StepSequence,
  safeEndpoint,
  scoreAttributes,
  scoreSpanId,
  secretScrubber,
  str,
  timeOf,
} from '@rlm/otel-common';
import { type ProbeOutcome, probeTraceExport } from './check.js';
import { CountingMetricExporter, createMetricExporter, grpcSpanExporter } from './exporters.js';
import { DEFAULT_LIMITS, hasScheme, optionsProblem, shownEndpoint } from './options.js';

/** Options of the `opentelemetry` sink. */
export interface OtelSinkOptions {
  /** @defaultValue `true` (env `DSPY_RLM_OTEL_ENABLED` with `createOtelSinkFromEnv`) */
  enabled?: boolean;
  /** The `service.name` resource attribute. @defaultValue `'rlm-code'` (env `OTEL_SERVICE_NAME`) */
  serviceName?: string;
  /**
   * The OTLP endpoint. @defaultValue `http://localhost:4317` for gRPC, `http://localhost:4318`
   * for http/protobuf (env `OTEL_EXPORTER_OTLP_ENDPOINT`). For gRPC a `host:port` without a
   * scheme means TLS, as in the OpenTelemetry exporter; http/protobuf needs `http://` or
   * `https://`.
   */
  endpoint?: string;
  /**
   * `'grpc'` or `'http/protobuf'`; anything else makes the sink unavailable.
   * @defaultValue `'grpc'` (env `OTEL_EXPORTER_OTLP_PROTOCOL`)
   */
  protocol?: OtlpProtocol;
  /** Extra headers (gRPC metadata), for example for auth. (env `OTEL_EXPORTER_OTLP_HEADERS`) */
  headers?: Record<string, string>;
  /** Export the four metrics. @defaultValue `true` (env `DSPY_RLM_OTEL_METRICS_ENABLED`) */
  metricsEnabled?: boolean;
  /** Extra resource attributes. */
  resourceAttributes?: Attributes;
  /** Per-export timeout; the exporters' retries stay within it. @defaultValue `10000` */
  exportTimeoutMs?: number;
  /**
   * Spans held for export (a whole number > 0); beyond it spans are dropped and counted.
   * @defaultValue `2048`
   */
  maxQueueSize?: number;
  /** At most this many spans per export (never more than three quarters of `maxQueueSize`). @defaultValue `512` */
  maxExportBatchSize?: number;
  /** @defaultValue `1000` */
  scheduledDelayMs?: number;
  /** @defaultValue `60000` */
  metricExportIntervalMs?: number;
  /** Runs held open at once; the oldest is ended (`rlm.evicted`) beyond it. @defaultValue `10000` */
  maxOpenRuns?: number;
  /** Replace the OTLP span exporter (tests, or a custom transport). */
  spanExporter?: SpanExporter;
  /** Replace the OTLP metric exporter. */
  metricExporter?: PushMetricExporter;
  /**
   * The pause after the endpoint refused the credentials (HTTP 401/403, gRPC UNAUTHENTICATED/
   * PERMISSION_DENIED): one minute, doubling up to fifteen, ±20% jitter (`now` and `random`
   * for tests).
   */
  authCooldown?: AuthCooldownOptions;
  /**
   * The most characters kept of each text (whole numbers > 0); a longer one is cut and marked
   * `…[truncated N chars]`. `task`: `rlm.task`; `text`: code, output, final answer, score
   * comments; `error`: a failed step's status message.
   * @defaultValue the seed's `{ task: 500, text: 1000, error: 200 }`
   */
  limits?: OtelSinkLimits;
  /** The sink's name. @defaultValue `'opentelemetry'` */
  name?: string;
}

/** How much of each text the sink keeps (see {@link OtelSinkOptions.limits}). */
export interface OtelSinkLimits {
  task?: number;
  text?: number;
  error?: number;
}

/** The limits given, the seed's for the others (checked by `optionsProblem`). */
function limitsOf(given: OtelSinkLimits | undefined): Readonly<Required<OtelSinkLimits>> {
  const read = readContentLimits(DEFAULT_LIMITS, given);
  return 'limits' in read ? read.limits : { ...DEFAULT_LIMITS };
}

/** How long `check()` may take in all: the connection, then the empty export. */
const CHECK_DEADLINE_MS = 5000;

interface OpenRun {
  span: Span;
  context: Context;
  /** `session.id`, `user.id`, `rlm.tags`: on the run span and its step spans. */
  identity: Attributes;
  /** The run's custom attributes: on the run span and its step spans (seed 002). */
  custom: Attributes;
  environment: string;
  startMs: number;
  lastStepEnd: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/**
 * The `opentelemetry` sink.
 *
 * @example
 * ```ts
 * const sink = new OpenTelemetrySink({ endpoint: 'http://localhost:4317' });
 * const obs = RLMObservability.withSinks([sink]);
 * // later: sink.getTraceId(runId)
 * ```
 */
export class OpenTelemetrySink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  readonly enabled: boolean;
  readonly serviceName: string;
  readonly endpoint: string;
  readonly protocol: OtlpProtocol;
  readonly metricsEnabled: boolean;
  /** How much of each text is kept. */
  readonly limits: Readonly<Required<OtelSinkLimits>>;

  /** The endpoint as a URL: a gRPC `host:port` gets `https://`, as the exporter reads it. */
  readonly #target: string;
  #available = false;
  #detail: string;
  #tracing: PrivateTracing | undefined;
  #meterProvider: MeterProvider | undefined;
  #tracer: Tracer | undefined;
  #metricExporter: CountingMetricExporter | undefined;
  #runs = new Map<string, OpenRun>();
  /** Where and how to export (`check()` sends its empty export the same way). */
  #settings: ExporterSettings | undefined;
  #traceIds = new Map<string, string>();
  /** Steps seen per run since its start: the number of a step that comes without one. */
  /** Step numbers for the span ids (steps without a number are the n-th of their run). */
  readonly #steps: StepSequence;
  #maxOpenRuns: number;
  readonly #hooks = new HookGuard(() => this.#tracing?.ids.reset());
  readonly #auth: ExportAuth;
  /** Masks the headers' values and URL credentials in every text `status()` and `check()` show. */
  readonly #scrub: Scrub;
  #instruments:
    | { runs: Counter; steps: Counter; reward: Histogram; duration: Histogram }
    | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(options: OtelSinkOptions = {}) {
    this.name = options.name ?? 'opentelemetry';
    this.enabled = options.enabled !== false;
    this.serviceName = options.serviceName ?? 'rlm-code';
    this.protocol = options.protocol ?? 'grpc';
    this.endpoint =
      options.endpoint ??
      (this.protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318');
    this.metricsEnabled = options.metricsEnabled !== false;
    this.limits = limitsOf(options.limits);
    this.#maxOpenRuns = Math.max(1, options.maxOpenRuns ?? DEFAULT_MAX_OPEN_RUNS);
    this.#steps = new StepSequence(this.#maxOpenRuns * 2);
    const endpoint = typeof this.endpoint === 'string' ? this.endpoint.trim() : '';
    this.#target =
      this.protocol === 'grpc' && endpoint !== '' && !hasScheme(endpoint)
        ? `https://${endpoint}`
        : endpoint;
    this.#detail = this.enabled
      ? this.#target === endpoint
        ? safeEndpoint(endpoint)
        : `${safeEndpoint(this.#target)} (no scheme given: gRPC over TLS)`
      : 'disabled';
    // One pause for the traces and the metrics: they go out with the same credentials.
    this.#auth = new ExportAuth(new AuthCooldown(options.authCooldown));
    this.#scrub = secretScrubber({
      headers: options.headers,
      urls: [this.endpoint, this.#target],
    });
    if (!this.enabled) return;
    // A wrong value would break exports quietly (every span dropped, another protocol).
    const problem = optionsProblem(options, this.endpoint);
    if (problem) {
      this.#detail = `unavailable: ${problem}`;
      return;
    }
    try {
      const settings: ExporterSettings = {
        endpoint: this.endpoint,
        protocol: this.protocol,
        headers: options.headers ?? {},
        timeoutMs: options.exportTimeoutMs ?? 10_000,
      };
      const resourceAttributes = {
        'service.name': this.serviceName,
        'telemetry.sdk.name': 'rlm-obs',
        ...options.resourceAttributes,
      };
      // A private provider: never registered, so the host's global OpenTelemetry is untouched.
      this.#tracing = new PrivateTracing({
        resource: resourceAttributes,
        exporter: options.spanExporter ?? createSpanExporter(settings, grpcSpanExporter),
        endpoint: this.#target,
        auth: this.#auth,
        scrub: this.#scrub,
        ...(options.maxQueueSize !== undefined ? { maxQueueSize: options.maxQueueSize } : {}),
        ...(options.maxExportBatchSize !== undefined
          ? { maxExportBatchSize: options.maxExportBatchSize }
          : {}),
        ...(options.scheduledDelayMs !== undefined
          ? { scheduledDelayMs: options.scheduledDelayMs }
          : {}),
        exportTimeoutMs: settings.timeoutMs,
      });
      this.#tracer = this.#tracing.tracer;
      this.#settings = settings;
      const resource = resourceFromAttributes(resourceAttributes);
      if (this.metricsEnabled) {
        this.#metricExporter = new CountingMetricExporter(
          options.metricExporter ?? createMetricExporter(settings),
          this.#auth,
          this.#scrub,
        );
        this.#meterProvider = new MeterProvider({
          resource,
          readers: [
            new PeriodicExportingMetricReader({
              exporter: this.#metricExporter,
              exportIntervalMillis: options.metricExportIntervalMs ?? 60_000,
              exportTimeoutMillis: settings.timeoutMs,
            }),
          ],
        });
        const meter = this.#meterProvider.getMeter('rlm-obs', '0.1.0');
        this.#instruments = {
          runs: meter.createCounter('rlm.runs', {
            unit: '1',
            description: 'Total number of RLM runs',
          }),
          steps: meter.createCounter('rlm.steps', {
            unit: '1',
            description: 'Total number of steps',
          }),
          reward: meter.createHistogram('rlm.reward', {
            unit: '1',
            description: 'Distribution of per-step rewards',
          }),
          duration: meter.createHistogram('rlm.run_duration', {
            unit: 's',
            description: 'Distribution of run durations in seconds',
          }),
        };
      }
      this.#available = true;
    } catch (error) {
      this.#available = false;
      this.#detail = `unavailable: ${this.#scrub(error)}`;
    }
  }

  /**
   * The seed's status, plus export counters and the auth pause (`authFailures`,
   * `authSkipped`, `authPausedUntil`; the detail says when the credentials were refused).
   */
  status(): SinkStatus {
    const auth = this.#auth.detail();
    const status: SinkStatus = {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      detail: auth ? `${this.#detail}; ${auth}` : this.#detail,
      service_name: this.serviceName,
      metrics_enabled: this.metricsEnabled,
      ...(this.#tracing?.counters() ?? {
        spans_ended: 0,
        spans_exported: 0,
        spans_failed: 0,
        spans_dropped: 0,
        spans_skipped: 0,
      }),
      open_runs: this.#runs.size,
      ...this.#auth.cooldown.stats(),
    };
    const lastError = this.#tracing?.lastError;
    if (lastError) status.last_error = this.#scrub(lastError);
    return Object.assign(status, this.#hooks.problems(this.#scrub));
  }

  /** The 32-hex trace id of a run (seed: `get_trace_id`), or `undefined` if unknown. */
  getTraceId(runId: string): string | undefined {
    this.#hooks.drain();
    return this.#runs.get(runId)?.span.spanContext().traceId ?? this.#traceIds.get(runId);
  }

  /**
   * Backpressure when the export queue is near full (see PrivateTracing.whenRoomAfter): hook
   * calls still queued that could fill it run first, so a hold only ever waits for an export
   * under way — never for hooks left on the event loop, which a burst followed by the end of
   * the process would otherwise lose.
   */
  #room(): Promise<void> | undefined {
    return this.#tracing?.whenRoomAfter(this.#hooks);
  }

  onRunStart(runId: string, start: RunStart): Promise<void> | undefined {
    this.#hooks.run(() => this.#onRunStart(runId, start));
    return this.#room();
  }

  #onRunStart(runId: string, start: RunStart): void {
    const tracer = this.#tracer;
    if (!tracer || this.#shutdown) return;
    const id = String(runId);
    const s = isObject(start) ? start : ({} as RunStart);
    const params = isObject(s.params) ? s.params : {};
    const parentRun = typeof s.parentRunId === 'string' ? this.#runs.get(s.parentRunId) : undefined;
    const parent = runParentContext(s.traceparent, parentRun?.context);
    const startMs = timeOf(s.startedAt) ?? this.#hooks.now();
    const environment = str(s.environment) ?? '';
    const custom = customAttributes(s.attributes);
    const attributes: Attributes = {
      'rlm.run_id': id,
      'rlm.task': truncate(str(s.task) ?? '', this.limits.task),
      'rlm.environment': environment,
      'rlm.max_steps': num(params.max_steps) ?? 0,
      'rlm.model': str(params.model) ?? '',
      ...custom,
    };
    if (typeof s.parentRunId === 'string') attributes['rlm.parent_run_id'] = s.parentRunId;
    const who = runIdentity(s);
    const identity = identityAttributes(who);
    if (who.tags.length > 0) identity['rlm.tags'] = who.tags;
    Object.assign(attributes, identity);
    this.#tracing!.ids.nextTraceId = traceIdFromRunId(id);
    this.#tracing!.ids.nextSpanId = spanIdFromRunId(id);
    this.#steps.start(id);
    const span = tracer.startSpan(
      'rlm.run',
      { kind: SpanKind.INTERNAL, startTime: startMs, attributes },
      parent,
    );
    this.#tracing!.ids.nextTraceId = undefined;
    this.#tracing!.ids.nextSpanId = undefined;
    holdRun(
      this.#runs,
      id,
      {
        span,
        context: trace.setSpan(parent, span),
        identity,
        custom,
        environment,
        startMs,
        lastStepEnd: startMs,
        inputTokens: 0,
        outputTokens: 0,
        costUsd: 0,
      },
      this.#maxOpenRuns,
      this.#tracing!,
    );
    this.#rememberTraceId(id, span.spanContext().traceId);
    this.#instruments?.runs.add(1, { environment });
  }

  onStep(runId: string, record: StepRecord): Promise<void> | undefined {
    this.#hooks.run(() => this.#onStep(runId, record));
    return this.#room();
  }

  #onStep(runId: string, record: StepRecord): void {
    const tracer = this.#tracer;
    if (!tracer || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const r = isObject(record) ? record : ({} as StepRecord);
    const event: StepEvent = isObject(r.event) ? r.event : {};
    const run = this.#runs.get(id);
    // A step of a run this process never saw start (a replay of a partial run) still lands in
    // the run's trace, under the run's derived span id.
    const parent = run?.context ?? derivedRunContext(id, this.#traceIds.get(id));
    const action = isObject(event.action) ? event.action : {};
    const observation = isObject(event.observation) ? event.observation : {};
    // A step without a number is the n-th step seen for its run (as the run API numbers them):
    // distinct span ids, and the same ones when the run is replayed.
    const step = this.#steps.next(id, num(event.step));
    const reward = num(event.reward) ?? 0;
    const duration = num(event.durationMs);
    const startMs = timeOf(event.startedAt) ?? run?.lastStepEnd ?? this.#hooks.now();
    const endMs =
      duration !== undefined
        ? startMs + Math.max(0, duration)
        : Math.max(startMs, this.#hooks.now());
    const attributes: Attributes = {
      'rlm.run_id': id,
      'rlm.step': step,
      'rlm.action_type': str(action.action) ?? 'unknown',
      'rlm.reward': reward,
      'rlm.cumulative_reward': num(r.cumulativeReward) ?? 0,
      'rlm.success': observation.success === true,
    };
    // Added key by key: a spread in this literal would take V8's slow path on every step.
    if (run) {
      for (const key in run.identity) attributes[key] = run.identity[key];
      // The run's custom attributes (seed 002: "custom metadata to all spans"), never over
      // the step's own; the step's custom attributes below win over them.
      for (const key in run.custom)
        if (attributes[key] === undefined) attributes[key] = run.custom[key];
    }
    const usage = event.usage as Record<string, unknown> | undefined;
    if (usage !== undefined && usage !== null) {
      let model: unknown;
      let provider: unknown;
      let input = 0;
      let output = 0;
      let cost = 0;
      if (
        !Array.isArray(usage) &&
        typeof usage.inputTokens === 'number' &&
        typeof usage.outputTokens === 'number'
      ) {
        // Fast path: one LLM call in our own field names.
        model = usage.model;
        provider = usage.provider;
        input = Math.max(usage.inputTokens, 0);
        output = Math.max(usage.outputTokens, 0);
        cost = typeof usage.costUsd === 'number' && usage.costUsd > 0 ? usage.costUsd : 0;
      } else {
        const usages = stepUsages(event);
        model = usages[0]?.model;
        provider = usages[0]?.provider;
        for (const u of usages) {
          input += u.inputTokens;
          output += u.outputTokens;
          cost += u.costUsd ?? 0;
        }
      }
      if (typeof model === 'string') attributes['gen_ai.request.model'] = model;
      if (typeof provider === 'string') attributes['gen_ai.system'] = provider;
      attributes['gen_ai.usage.input_tokens'] = input;
      attributes['gen_ai.usage.output_tokens'] = output;
      if (cost > 0) attributes['rlm.cost_usd'] = cost;
      if (run) {
        run.inputTokens += input;
        run.outputTokens += output;
        run.costUsd += cost;
      }
    }
    // Seed 002's cache_status and cache_signature, named rlm.* like every attribute of ours.
    if (isObject(event.cache)) {
      if (typeof event.cache.status === 'string')
        attributes['rlm.cache.status'] = event.cache.status;
      if (typeof event.cache.key === 'string') attributes['rlm.cache.key'] = event.cache.key;
    }
    if (isObject(event.attributes)) Object.assign(attributes, customAttributes(event.attributes));
    this.#tracing!.ids.nextSpanId = spanIdFromRunId(id, step);
    const span = tracer.startSpan(
      'rlm.step',
      { kind: SpanKind.INTERNAL, startTime: startMs, attributes },
      parent,
    );
    this.#tracing!.ids.nextSpanId = undefined;
    const code = str(action.code);
    const limit = this.limits.text;
    if (code) span.addEvent('code_execution', { code: truncate(code, limit) }, startMs);
    const output = str(observation.output);
    if (output) span.addEvent('output', { output: truncate(output, limit) }, endMs);
    if (observation.success === true) {
      span.setStatus({ code: SpanStatusCode.OK });
    } else {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: truncate(str(observation.error) ?? '', this.limits.error),
      });
    }
    span.end(endMs);
    this.#tracing!.ended();
    if (run) run.lastStepEnd = endMs;
    this.#instruments?.steps.add(1, { run_id: id });
    this.#instruments?.reward.record(reward);
  }

  onRunEnd(runId: string, end: RunEnd): Promise<void> | undefined {
    this.#hooks.run(() => this.#onRunEnd(runId, end));
    return this.#room();
  }

  #onRunEnd(runId: string, end: RunEnd): void {
    const tracer = this.#tracer;
    if (!tracer || this.#shutdown) return;
    const id = String(runId);
    const e = isObject(end) ? end : ({} as RunEnd);
    const result = isObject(e.result) ? e.result : {};
    let run = this.#runs.get(id);
    if (!run) {
      // An end without a start (a replay of a run that started elsewhere): a run span anyway.
      this.#onRunStart(id, impliedStart(result));
      run = this.#runs.get(id);
      if (!run) return;
    }
    this.#runs.delete(id);
    const completed = result.completed === true;
    const endMs = timeOf(result.finishedAt) ?? this.#hooks.now();
    const span = run.span;
    span.setAttributes({
      'rlm.completed': completed,
      'rlm.total_steps': num(result.steps) ?? 0,
      'rlm.total_reward': num(result.totalReward) ?? 0,
      'rlm.run_path': typeof e.runPath === 'string' ? e.runPath : '',
    });
    if (run.inputTokens + run.outputTokens > 0) {
      span.setAttributes({
        'gen_ai.usage.input_tokens': run.inputTokens,
        'gen_ai.usage.output_tokens': run.outputTokens,
      });
      if (run.costUsd > 0) span.setAttribute('rlm.cost_usd', run.costUsd);
    }
    const answer = str(result.finalAnswer);
    if (answer)
      span.addEvent('final_answer', { answer: truncate(answer, this.limits.text) }, endMs);
    if (completed) span.setStatus({ code: SpanStatusCode.OK });
    else span.setStatus({ code: SpanStatusCode.ERROR, message: 'Run did not complete' });
    span.end(Math.max(endMs, run.startMs));
    this.#tracing!.ended();
    this.#instruments?.duration.record(Math.max(0, endMs - run.startMs) / 1000, {
      environment: run.environment,
    });
  }

  /**
   * A score or feedback: an `rlm.score` event on the run's span while it is open, else (a late
   * score, or a run this process never saw) a zero-length `rlm.score` span under the run's
   * span, with deterministic ids. Attributes: `rlm.score.name`, `rlm.score.value`,
   * `rlm.score.kind`, `rlm.score.comment`, `rlm.score.source`, `rlm.step`.
   */
  onScore(runId: string, score: ScoreRecord): Promise<void> | undefined {
    this.#hooks.run(() => this.#onScore(runId, score));
    return this.#room();
  }

  #onScore(runId: string, record: ScoreRecord): void {
    const tracer = this.#tracer;
    if (!tracer || this.#shutdown) return;
    const id = String(runId);
    const score = readScore(record, this.limits.text);
    const attributes = scoreAttributes(score);
    const run = this.#runs.get(id);
    if (run) {
      const at = Math.max(score.atMs ?? this.#hooks.now(), run.startMs);
      run.span.addEvent('rlm.score', attributes, at);
      return;
    }
    const at = score.atMs ?? this.#hooks.now();
    this.#tracing!.ids.nextSpanId = scoreSpanId(id, score);
    const span = tracer.startSpan(
      'rlm.score',
      {
        kind: SpanKind.INTERNAL,
        startTime: at,
        attributes: { 'rlm.run_id': id, ...attributes },
      },
      derivedRunContext(id, this.#traceIds.get(id)),
    );
    this.#tracing!.ids.nextSpanId = undefined;
    span.end(at);
    this.#tracing!.ended();
  }

  /**
   * `rlm-obs doctor`: the endpoint is reachable and takes a trace export with the sink's
   * credentials — an empty one (nothing recorded), sent as the exporter sends, once, tracing
   * suppressed; all within 5 s.
   */
  async check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    if (!this.#available)
      return {
        ok: false,
        problems: [
          {
            problem: this.#detail,
            fix: /\bheader\b/.test(this.#detail)
              ? 'check the headers option or OTEL_EXPORTER_OTLP_HEADERS: gRPC metadata takes lower-case names and printable ASCII values (no newline or accent)'
              : 'check the sink options (endpoint, protocol)',
          },
        ],
      };
    const where = safeEndpoint(this.#target);
    const auth = this.#auth.detail();
    if (auth)
      return {
        ok: false,
        detail: where,
        problems: [
          {
            problem: `${where} refused the credentials: ${auth}`,
            fix: 'check the auth headers (OTEL_EXPORTER_OTLP_HEADERS or the headers option) and that they belong to this endpoint; exports resume by themselves when the pause ends',
          },
        ],
      };
    let url: URL;
    try {
      url = new URL(this.#target);
    } catch {
      return {
        ok: false,
        problems: [
          {
            problem: `the endpoint ${shownEndpoint(this.endpoint)} is not a URL`,
            fix: 'set OTEL_EXPORTER_OTLP_ENDPOINT to a URL like http://localhost:4317',
          },
        ],
      };
    }
    const deadline = Date.now() + CHECK_DEADLINE_MS;
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    // gRPC over a Unix socket (`unix:///path`): the socket, not a TCP port.
    const target = url.protocol === 'unix:' ? { path: url.pathname } : { host: url.hostname, port };
    const tls = this.#target !== this.endpoint.trim() ? ' over TLS: no scheme given' : '';
    // First the connection (a clear "cannot reach"), then the empty export (the credentials).
    // Tracing suppressed, as for the export below (no net/HTTP/gRPC instrumentation records it).
    const reason = await context.with(
      suppressTracing(context.active()),
      () =>
        new Promise<string | undefined>((resolve) => {
          const socket = connect({ ...target, timeout: CHECK_DEADLINE_MS });
          socket.once('connect', () => {
            socket.destroy();
            resolve(undefined);
          });
          socket.once('timeout', () => {
            socket.destroy();
            resolve(`no answer within ${CHECK_DEADLINE_MS / 1000} s`);
          });
          socket.once('error', (error) => resolve(this.#scrub(error)));
        }),
    );
    if (reason !== undefined) return this.#unreachable(where, reason);
    const outcome = await probeTraceExport(this.#settings!, Math.max(1, deadline - Date.now()));
    return this.#checked(where, tls, outcome);
  }

  #unreachable(where: string, reason: string): SinkCheckResult {
    return {
      ok: false,
      detail: where,
      problems: [
        {
          problem: `cannot reach ${where}: ${reason}`,
          fix: 'start the collector or backend, or set OTEL_EXPORTER_OTLP_ENDPOINT',
        },
      ],
    };
  }

  /** `check()`'s verdict on the empty trace export. Never quotes a header value. */
  #checked(where: string, tls: string, outcome: ProbeOutcome): SinkCheckResult {
    const how = `${this.protocol}${tls}`;
    switch (outcome.kind) {
      case 'ok':
        return {
          ok: true,
          problems: [],
          detail: `${where} accepts trace exports with these credentials (${how})`,
        };
      case 'auth':
        return {
          ok: false,
          detail: where,
          problems: [
            {
              problem: `${where} refused the credentials (${outcome.label}) of an empty trace export`,
              fix: 'check OTEL_EXPORTER_OTLP_HEADERS (or the headers option): the auth header, its name and value, and that it belongs to this endpoint',
            },
          ],
        };
      case 'timeout':
        return this.#unreachable(
          where,
          `connected, but no answer to an empty trace export within ${CHECK_DEADLINE_MS / 1000} s`,
        );
      case 'unreachable':
        return this.#unreachable(where, this.#scrub(outcome.reason));
      default: {
        const said = outcome.reason
          ? `: ${truncate(this.#scrub(outcome.reason), this.limits.error)}`
          : '';
        return {
          ok: false,
          detail: where,
          problems: [
            {
              problem: `${where} is reachable but failed an empty trace export (${outcome.label}${said}; ${how})`,
              fix:
                this.protocol === 'grpc'
                  ? `check that the endpoint is an OTLP gRPC receiver (usually port 4317)${tls ? '; without a scheme gRPC uses TLS: write http:// for plaintext' : ''}, or set protocol to http/protobuf for an OTLP/HTTP one`
                  : 'check that the endpoint is the base URL of an OTLP/HTTP receiver (usually port 4318; /v1/traces is added), or set protocol to grpc for an OTLP gRPC one',
            },
          ],
        };
      }
    }
  }

  /** Exports everything ended so far; rejects when spans failed to export since the last flush. */
  async forceFlush(): Promise<void> {
    this.#hooks.drain();
    await this.#tracing?.flush([this.#meterProvider?.forceFlush()]);
  }

  /**
   * Ends the runs still open (marked `rlm.incomplete`, so their steps keep a parent), exports
   * everything and closes the providers. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#hooks.drain();
    this.#shutdown ??= (async () => {
      for (const [, run] of this.#runs) {
        run.span.setAttribute('rlm.incomplete', true);
        run.span.end();
        this.#tracing?.ended();
      }
      this.#runs.clear();
      await this.#tracing?.shutdown([this.#meterProvider?.shutdown()]);
    })();
    return this.#shutdown;
  }

  #rememberTraceId(runId: string, traceId: string): void {
    remember(this.#traceIds, runId, traceId, this.#maxOpenRuns * 2);
  }
}
