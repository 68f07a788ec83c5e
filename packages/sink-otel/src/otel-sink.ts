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
  type Histogram,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  type IdGenerator,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import {
  parseTraceparent,
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
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
  CountingMetricExporter,
  CountingSpanExporter,
  createMetricExporter,
  createSpanExporter,
  type OtlpProtocol,
} from './exporters.js';

/** Options of the `opentelemetry` sink. */
export interface OtelSinkOptions {
  /** @defaultValue `true` (env `DSPY_RLM_OTEL_ENABLED` with `createOtelSinkFromEnv`) */
  enabled?: boolean;
  /** The `service.name` resource attribute. @defaultValue `'rlm-code'` (env `OTEL_SERVICE_NAME`) */
  serviceName?: string;
  /**
   * The OTLP endpoint. @defaultValue `http://localhost:4317` for gRPC, `http://localhost:4318`
   * for http/protobuf (env `OTEL_EXPORTER_OTLP_ENDPOINT`)
   */
  endpoint?: string;
  /** @defaultValue `'grpc'` (env `OTEL_EXPORTER_OTLP_PROTOCOL`) */
  protocol?: OtlpProtocol;
  /** Extra headers (gRPC metadata), for example for auth. (env `OTEL_EXPORTER_OTLP_HEADERS`) */
  headers?: Record<string, string>;
  /** Export the four metrics. @defaultValue `true` (env `DSPY_RLM_OTEL_METRICS_ENABLED`) */
  metricsEnabled?: boolean;
  /** Extra resource attributes. */
  resourceAttributes?: Attributes;
  /** Per-export timeout; the exporters' retries stay within it. @defaultValue `10000` */
  exportTimeoutMs?: number;
  /** Spans held for export; beyond it spans are dropped and counted. @defaultValue `2048` */
  maxQueueSize?: number;
  /** @defaultValue `512` */
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
  /** The sink's name. @defaultValue `'opentelemetry'` */
  name?: string;
}

/** The seed's limits: task 500, code/output/final answer 1000, error 200 characters. */
const TASK_LIMIT = 500;
const TEXT_LIMIT = 1000;
const ERROR_LIMIT = 200;

/** Ids chosen by the sink for the next span it starts; random otherwise. */
class RunIdGenerator implements IdGenerator {
  nextTraceId: string | undefined;
  nextSpanId: string | undefined;

  generateTraceId(): string {
    const id = this.nextTraceId;
    this.nextTraceId = undefined;
    return id ?? randomHex(32);
  }

  generateSpanId(): string {
    const id = this.nextSpanId;
    this.nextSpanId = undefined;
    return id ?? randomHex(16);
  }
}

function randomHex(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += Math.floor(Math.random() * 16).toString(16);
  return /^0+$/.test(out) ? `${out.slice(0, -1)}1` : out;
}

interface OpenRun {
  span: Span;
  context: Context;
  environment: string;
  startMs: number;
  lastStepEnd: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function timeOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
  }
  return undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Custom attributes as OTel attribute values (primitives and arrays of one primitive type). */
function customAttributes(source: unknown, prefix = ''): Attributes {
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

/** Endpoint without credentials or query: safe for `detail`. */
function safeEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return endpoint.replace(/\/\/[^@/]*@/, '//');
  }
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

  #available = false;
  #detail: string;
  #tracerProvider: BasicTracerProvider | undefined;
  #meterProvider: MeterProvider | undefined;
  #tracer: Tracer | undefined;
  #ids = new RunIdGenerator();
  #spanExporter: CountingSpanExporter | undefined;
  #metricExporter: CountingMetricExporter | undefined;
  #runs = new Map<string, OpenRun>();
  #traceIds = new Map<string, string>();
  #maxOpenRuns: number;
  #spansEnded = 0;
  #spansDropped = 0;
  #hookErrors = 0;
  #lastHookError: string | undefined;
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
    this.#maxOpenRuns = Math.max(1, options.maxOpenRuns ?? 10_000);
    this.#detail = this.enabled ? safeEndpoint(this.endpoint) : 'disabled';
    if (!this.enabled) return;
    try {
      const settings = {
        endpoint: this.endpoint,
        protocol: this.protocol,
        headers: options.headers ?? {},
        timeoutMs: options.exportTimeoutMs ?? 10_000,
      };
      const resource = resourceFromAttributes({
        'service.name': this.serviceName,
        'telemetry.sdk.name': 'rlm-obs',
        ...options.resourceAttributes,
      });
      this.#spanExporter = new CountingSpanExporter(
        options.spanExporter ?? createSpanExporter(settings),
      );
      // A private provider: never registered, so the host's global OpenTelemetry is untouched.
      this.#tracerProvider = new BasicTracerProvider({
        resource,
        idGenerator: this.#ids,
        // The coordinator samples per root run; everything that reaches this sink is kept.
        sampler: new AlwaysOnSampler(),
        spanProcessors: [
          new BatchSpanProcessor(this.#spanExporter, {
            maxQueueSize: options.maxQueueSize ?? 2048,
            maxExportBatchSize: options.maxExportBatchSize ?? 512,
            scheduledDelayMillis: options.scheduledDelayMs ?? 1000,
            exportTimeoutMillis: settings.timeoutMs,
          }),
        ],
      });
      this.#tracer = this.#tracerProvider.getTracer('rlm-obs', '0.1.0');
      if (this.metricsEnabled) {
        this.#metricExporter = new CountingMetricExporter(
          options.metricExporter ?? createMetricExporter(settings),
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
      this.#detail = `unavailable: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  /** The seed's status, plus export counters. */
  status(): SinkStatus {
    const counters = this.#spanExporter?.counters;
    const exported = counters?.exported ?? 0;
    const failed = counters?.failed ?? 0;
    const status: SinkStatus = {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      detail: this.#detail,
      service_name: this.serviceName,
      metrics_enabled: this.metricsEnabled,
      spans_ended: this.#spansEnded,
      spans_exported: exported,
      spans_failed: failed,
      spans_dropped: this.#spansDropped,
      open_runs: this.#runs.size,
    };
    if (counters?.lastError) status.last_error = counters.lastError;
    if (this.#hookErrors > 0) {
      status.bad_events = this.#hookErrors;
      status.last_bad_event = this.#lastHookError;
    }
    return status;
  }

  /** The 32-hex trace id of a run (seed: `get_trace_id`), or `undefined` if unknown. */
  getTraceId(runId: string): string | undefined {
    return this.#runs.get(runId)?.span.spanContext().traceId ?? this.#traceIds.get(runId);
  }

  onRunStart(runId: string, start: RunStart): void {
    this.#guard(() => this.#onRunStart(runId, start));
  }

  #onRunStart(runId: string, start: RunStart): void {
    const tracer = this.#tracer;
    if (!tracer || this.#shutdown) return;
    const id = String(runId);
    const s = isObject(start) ? start : ({} as RunStart);
    const params = isObject(s.params) ? s.params : {};
    let parent: Context = ROOT_CONTEXT;
    const remote = parseTraceparent(s.traceparent);
    if (remote) {
      parent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: remote.traceId,
        spanId: remote.spanId,
        traceFlags: remote.traceFlags,
        isRemote: true,
      });
    } else if (typeof s.parentRunId === 'string' && this.#runs.has(s.parentRunId)) {
      parent = this.#runs.get(s.parentRunId)!.context;
    }
    const startMs = timeOf(s.startedAt) ?? Date.now();
    const environment = str(s.environment) ?? '';
    const attributes: Attributes = {
      'rlm.run_id': id,
      'rlm.task': truncate(str(s.task) ?? '', TASK_LIMIT),
      'rlm.environment': environment,
      'rlm.max_steps': num(params.max_steps) ?? 0,
      'rlm.model': str(params.model) ?? '',
      ...customAttributes(s.attributes),
    };
    if (typeof s.parentRunId === 'string') attributes['rlm.parent_run_id'] = s.parentRunId;
    this.#ids.nextTraceId = traceIdFromRunId(id);
    this.#ids.nextSpanId = spanIdFromRunId(id);
    const span = tracer.startSpan(
      'rlm.run',
      { kind: SpanKind.INTERNAL, startTime: startMs, attributes },
      parent,
    );
    this.#ids.nextTraceId = undefined;
    this.#ids.nextSpanId = undefined;
    if (this.#runs.size >= this.#maxOpenRuns) this.#evictOldest();
    this.#runs.set(id, {
      span,
      context: trace.setSpan(parent, span),
      environment,
      startMs,
      lastStepEnd: startMs,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
    });
    this.#rememberTraceId(id, span.spanContext().traceId);
    this.#instruments?.runs.add(1, { environment });
  }

  onStep(runId: string, record: StepRecord): void {
    this.#guard(() => this.#onStep(runId, record));
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
    const parent = run?.context ?? this.#syntheticRunContext(id);
    const action = isObject(event.action) ? event.action : {};
    const observation = isObject(event.observation) ? event.observation : {};
    const step = num(event.step) ?? 0;
    const reward = num(event.reward) ?? 0;
    const duration = num(event.durationMs);
    const startMs = timeOf(event.startedAt) ?? run?.lastStepEnd ?? Date.now();
    const endMs =
      duration !== undefined ? startMs + Math.max(0, duration) : Math.max(startMs, Date.now());
    const attributes: Attributes = {
      'rlm.run_id': id,
      'rlm.step': step,
      'rlm.action_type': str(action.action) ?? 'unknown',
      'rlm.reward': reward,
      'rlm.cumulative_reward': num(r.cumulativeReward) ?? 0,
      'rlm.success': observation.success === true,
    };
    const usages = stepUsages(event);
    if (usages.length > 0) {
      const first = usages[0]!;
      let input = 0;
      let output = 0;
      let cost = 0;
      for (const u of usages) {
        input += u.inputTokens;
        output += u.outputTokens;
        cost += u.costUsd ?? 0;
      }
      if (first.model) attributes['gen_ai.request.model'] = first.model;
      if (first.provider) attributes['gen_ai.system'] = first.provider;
      attributes['gen_ai.usage.input_tokens'] = input;
      attributes['gen_ai.usage.output_tokens'] = output;
      if (cost > 0) attributes['rlm.cost_usd'] = cost;
      if (run) {
        run.inputTokens += input;
        run.outputTokens += output;
        run.costUsd += cost;
      }
    }
    if (isObject(event.cache) && typeof event.cache.status === 'string')
      attributes['rlm.cache.status'] = event.cache.status;
    if (isObject(event.attributes)) Object.assign(attributes, customAttributes(event.attributes));
    this.#ids.nextSpanId = spanIdFromRunId(id, step);
    const span = tracer.startSpan(
      'rlm.step',
      { kind: SpanKind.INTERNAL, startTime: startMs, attributes },
      parent,
    );
    this.#ids.nextSpanId = undefined;
    const code = str(action.code);
    if (code) span.addEvent('code_execution', { code: truncate(code, TEXT_LIMIT) }, startMs);
    const output = str(observation.output);
    if (output) span.addEvent('output', { output: truncate(output, TEXT_LIMIT) }, endMs);
    if (observation.success === true) {
      span.setStatus({ code: SpanStatusCode.OK });
    } else {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: (str(observation.error) ?? '').slice(0, ERROR_LIMIT),
      });
    }
    span.end(endMs);
    this.#spansEnded++;
    if (run) run.lastStepEnd = endMs;
    this.#instruments?.steps.add(1, { run_id: id });
    this.#instruments?.reward.record(reward);
  }

  onRunEnd(runId: string, end: RunEnd): void {
    this.#guard(() => this.#onRunEnd(runId, end));
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
      this.#onRunStart(id, {
        task: '',
        environment: '',
        params: {},
        ...(typeof result.startedAt === 'string' ? { startedAt: result.startedAt } : {}),
      });
      run = this.#runs.get(id);
      if (!run) return;
    }
    this.#runs.delete(id);
    const completed = result.completed === true;
    const endMs = timeOf(result.finishedAt) ?? Date.now();
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
    if (answer) span.addEvent('final_answer', { answer: truncate(answer, TEXT_LIMIT) }, endMs);
    if (completed) span.setStatus({ code: SpanStatusCode.OK });
    else span.setStatus({ code: SpanStatusCode.ERROR, message: 'Run did not complete' });
    span.end(Math.max(endMs, run.startMs));
    this.#spansEnded++;
    this.#instruments?.duration.record(Math.max(0, endMs - run.startMs) / 1000, {
      environment: run.environment,
    });
  }

  /** `rlm-obs doctor`: the endpoint accepts connections. */
  async check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    if (!this.#available)
      return {
        ok: false,
        problems: [{ problem: this.#detail, fix: 'check the sink options (endpoint, protocol)' }],
      };
    const where = safeEndpoint(this.endpoint);
    let url: URL;
    try {
      url = new URL(this.endpoint);
    } catch {
      return {
        ok: false,
        problems: [
          {
            problem: `the endpoint ${where} is not a URL`,
            fix: 'set OTEL_EXPORTER_OTLP_ENDPOINT to a URL like http://localhost:4317',
          },
        ],
      };
    }
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const reason = await new Promise<string | undefined>((resolve) => {
      const socket = connect({ host: url.hostname, port, timeout: 5000 });
      socket.once('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('timeout', () => {
        socket.destroy();
        resolve('no answer within 5 s');
      });
      socket.once('error', (error) => resolve(error.message));
    });
    if (reason === undefined)
      return { ok: true, problems: [], detail: `${where} accepts connections (${this.protocol})` };
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

  /** Exports everything ended so far; rejects when spans failed to export since the last flush. */
  async forceFlush(): Promise<void> {
    const before = this.#spanExporter?.counters.failed ?? 0;
    await this.#settle(
      [this.#tracerProvider?.forceFlush(), this.#meterProvider?.forceFlush()],
      before,
    );
  }

  /**
   * Ends the runs still open (marked `rlm.incomplete`, so their steps keep a parent), exports
   * everything and closes the providers. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      for (const [, run] of this.#runs) {
        run.span.setAttribute('rlm.incomplete', true);
        run.span.end();
        this.#spansEnded++;
      }
      this.#runs.clear();
      const before = this.#spanExporter?.counters.failed ?? 0;
      await this.#settle(
        [this.#tracerProvider?.shutdown(), this.#meterProvider?.shutdown()],
        before,
      );
    })();
    return this.#shutdown;
  }

  /** A hook never throws into the coordinator, whatever the input (throwing getters, Proxies). */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      // A half-done hook must not leave its ids to the next span.
      this.#ids.nextTraceId = undefined;
      this.#ids.nextSpanId = undefined;
      this.#hookErrors++;
      this.#lastHookError = error instanceof Error ? error.message : String(error);
    }
  }

  /** Waits for the providers, counts drops, and reports lost spans in one error. */
  async #settle(work: Array<Promise<void> | undefined>, failedBefore: number): Promise<void> {
    const results = await Promise.allSettled(work);
    this.#countDropped();
    const lost = (this.#spanExporter?.counters.failed ?? 0) - failedBefore;
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (lost > 0 || rejected) {
      const reason =
        this.#spanExporter?.counters.lastError ??
        (rejected?.reason instanceof Error ? rejected.reason.message : String(rejected?.reason));
      const dropped = this.#spansDropped > 0 ? `, ${this.#spansDropped} dropped` : '';
      throw new Error(
        `${lost} spans could not be exported to ${safeEndpoint(this.endpoint)}${dropped} (${reason})`,
      );
    }
  }

  /**
   * After a flush every ended span was exported or failed — unless the batch processor's
   * queue was full and it dropped the span (it keeps no count of its own).
   */
  #countDropped(): void {
    const c = this.#spanExporter?.counters;
    if (c)
      this.#spansDropped = Math.max(this.#spansDropped, this.#spansEnded - c.exported - c.failed);
  }

  #syntheticRunContext(runId: string): Context {
    return trace.setSpanContext(ROOT_CONTEXT, {
      traceId: this.#traceIds.get(runId) ?? traceIdFromRunId(runId),
      spanId: spanIdFromRunId(runId),
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
  }

  #rememberTraceId(runId: string, traceId: string): void {
    if (this.#traceIds.size >= this.#maxOpenRuns * 2) {
      const oldest = this.#traceIds.keys().next().value;
      if (oldest !== undefined) this.#traceIds.delete(oldest);
    }
    this.#traceIds.set(runId, traceId);
  }

  #evictOldest(): void {
    const oldest = this.#runs.keys().next().value;
    if (oldest === undefined) return;
    const run = this.#runs.get(oldest)!;
    this.#runs.delete(oldest);
    run.span.setAttribute('rlm.evicted', true);
    run.span.end();
    this.#spansEnded++;
  }
}
