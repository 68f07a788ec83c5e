/**
 * `local-jsonl`: the embedded default sink. Same layout and field names as the Python
 * `LocalJSONLSink`, plus full fidelity (see records.ts), with buffered asynchronous writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  SINK_SPECIFICATION_VERSION,
  type SinkStatus,
  type StepRecord,
  safeStringify,
} from '@rlm/obs-core';
import { stepFileName } from './file-names.js';
import { JsonlWriter } from './jsonl-writer.js';

/** The Python original's default, relative to the working directory. */
export const DEFAULT_JSONL_DIR = path.join('.rlm_code', 'rlm', 'observability');

/** Options of the `local-jsonl` sink. */
export interface JsonlSinkOptions {
  /**
   * The base directory. Relative paths resolve against the working directory.
   * @defaultValue `.rlm_code/rlm/observability` (env `RLM_OBS_JSONL_DIR`)
   */
  dir?: string;
  /** @defaultValue `true` (env `DSPY_RLM_OBS_LOCAL_JSONL`) */
  enabled?: boolean;
  /** The sink's name. @defaultValue `'local-jsonl'` */
  name?: string;
  /** Most files open at once. @defaultValue `64` */
  maxOpenFiles?: number;
  /** Unwritten bytes held before new lines are dropped and counted. @defaultValue 64 MiB */
  maxBufferedBytes?: number;
  /** Runs whose start is remembered for their `runs.jsonl` line. @defaultValue `100000` */
  maxTrackedRuns?: number;
}

interface RunState {
  startedAt: string;
  task: string;
  environment: string;
  params: unknown;
  parentRunId: string | undefined;
  steps: number;
}

interface Queued {
  ts: number;
  runId: string;
  payload: unknown;
}

let lastMs = -1;
let lastIso = '';
/** ISO time, computed once per millisecond. */
function iso(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function json(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text;
  } catch {
    // cycles, BigInt, throwing getters: only when used without the coordinator
  }
  return safeStringify(value);
}

function read(source: unknown, key: string): unknown {
  if (!isObject(source)) return undefined;
  try {
    return source[key];
  } catch {
    return undefined;
  }
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function toRunId(runId: unknown): string {
  if (typeof runId === 'string') return runId;
  try {
    return String(runId);
  } catch {
    return 'invalid-run-id';
  }
}

function formatStep(q: unknown, write: (part: string) => void): void {
  const { ts, runId, payload } = q as Queued;
  const event = read(payload, 'event');
  const action = read(event, 'action');
  const actionType = typeof action === 'string' ? action : read(action, 'action');
  const success = read(read(event, 'observation'), 'success');
  const step = num(read(event, 'step'));
  const reward = num(read(event, 'reward'));
  const cumulative = num(read(payload, 'cumulativeReward')) ?? 0;
  // The Python fields first, then the whole event; the event's JSON is written as its own
  // part (a flat string) rather than concatenated.
  write(
    '{"timestamp":"' +
      iso(ts) +
      '","run_id":' +
      quoteRunId(runId) +
      ',"step":' +
      step +
      ',"action":' +
      (typeof actionType === 'string' ? quoteAction(actionType) : 'null') +
      ',"reward":' +
      reward +
      ',"cumulative_reward":' +
      cumulative +
      ',"success":' +
      (typeof success === 'boolean' ? success : 'null') +
      ',"event":',
  );
  write(isObject(event) ? json(event) : '{}');
  write('}');
}

/** JSON.stringify of a string, remembering the last one (run ids and actions repeat). */
function quoteCache(): (value: string) => string {
  let last = '';
  let lastJson = '""';
  return (value) => {
    if (value !== last) {
      last = value;
      lastJson = JSON.stringify(value);
    }
    return lastJson;
  };
}
const quoteRunId = quoteCache();
const quoteAction = quoteCache();

function formatStart(q: unknown, write: (part: string) => void): void {
  const { ts, runId, payload } = q as Queued;
  const str = (key: string, fallback: string): string => {
    const value = read(payload, key);
    return typeof value === 'string' ? value : value == null ? fallback : json(value);
  };
  const params = read(payload, 'params');
  const line: Record<string, unknown> = {
    timestamp: iso(ts),
    run_id: runId,
    started_at: str('startedAt', iso(ts)),
    task: str('task', ''),
    environment: str('environment', ''),
    params: isObject(params) ? params : {},
  };
  const parent = read(payload, 'parentRunId');
  if (typeof parent === 'string') line.parent_run_id = parent;
  const traceparent = read(payload, 'traceparent');
  if (typeof traceparent === 'string') line.traceparent = traceparent;
  const attributes = read(payload, 'attributes');
  if (isObject(attributes)) line.attributes = attributes;
  line.pid = process.pid;
  write(json(line));
}

/**
 * The `local-jsonl` sink.
 *
 * @example
 * ```ts
 * const sink = new LocalJSONLSink({ dir: './observability' });
 * const obs = RLMObservability.withSinks([sink]);
 * ```
 */
export class LocalJSONLSink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  /** The absolute base directory. */
  readonly dir: string;
  readonly enabled: boolean;
  readonly runsFile: string;
  readonly startsFile: string;
  readonly stepsDir: string;

  readonly #writer: JsonlWriter;
  readonly #runs = new Map<string, RunState>();
  readonly #maxTrackedRuns: number;
  #available = true;
  #setupError: string | undefined;
  #lastError: string | undefined;
  #lastRunId: string | undefined;
  #lastStepFile = '';
  #shutdown: Promise<void> | undefined;

  constructor(options: JsonlSinkOptions = {}) {
    this.name = options.name ?? 'local-jsonl';
    this.enabled = options.enabled !== false;
    this.dir = path.resolve(options.dir ?? DEFAULT_JSONL_DIR);
    this.runsFile = path.join(this.dir, 'runs.jsonl');
    this.startsFile = path.join(this.dir, 'starts.jsonl');
    this.stepsDir = path.join(this.dir, 'steps');
    this.#maxTrackedRuns = Math.max(1, options.maxTrackedRuns ?? 100_000);
    this.#writer = new JsonlWriter({
      ...(options.maxOpenFiles !== undefined ? { maxOpenFiles: options.maxOpenFiles } : {}),
      ...(options.maxBufferedBytes !== undefined
        ? { maxBufferedBytes: options.maxBufferedBytes }
        : {}),
      onError: (error) => {
        this.#lastError = error instanceof Error ? error.message : String(error);
      },
    });
    if (this.enabled) {
      try {
        fs.mkdirSync(this.stepsDir, { recursive: true });
      } catch (error) {
        this.#available = false;
        this.#setupError = error instanceof Error ? error.message : String(error);
      }
    }
  }

  status(): SinkStatus {
    const stats = this.#writer.stats;
    const status: SinkStatus = {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      detail: this.#setupError ? `unavailable: ${this.#setupError}` : this.dir,
      lines_written: stats.linesWritten,
      lines_failed: stats.linesFailed,
      lines_dropped: stats.linesDropped,
      backlog: this.#writer.backlog,
      open_files: stats.openFiles,
    };
    if (this.#lastError !== undefined) status.last_error = this.#lastError;
    return status;
  }

  onRunStart(runId: string, start: RunStart): void {
    if (!this.enabled) return;
    const id = toRunId(runId);
    const ts = Date.now();
    const startedAt = read(start, 'startedAt');
    const task = read(start, 'task');
    const environment = read(start, 'environment');
    const parent = read(start, 'parentRunId');
    if (this.#runs.size >= this.#maxTrackedRuns) {
      const oldest = this.#runs.keys().next().value;
      if (oldest !== undefined) this.#runs.delete(oldest);
    }
    this.#runs.set(id, {
      startedAt: typeof startedAt === 'string' ? startedAt : iso(ts),
      task: typeof task === 'string' ? task : '',
      environment: typeof environment === 'string' ? environment : '',
      params: read(start, 'params'),
      parentRunId: typeof parent === 'string' ? parent : undefined,
      steps: 0,
    });
    this.#writer.append(this.startsFile, { ts, runId: id, payload: start }, formatStart);
  }

  onStep(runId: string, step: StepRecord): void {
    if (!this.enabled) return;
    const id = typeof runId === 'string' ? runId : toRunId(runId);
    let file: string;
    if (id === this.#lastRunId) {
      file = this.#lastStepFile;
    } else {
      file = path.join(this.stepsDir, stepFileName(id));
      this.#lastRunId = id;
      this.#lastStepFile = file;
    }
    const state = this.#runs.get(id);
    if (state !== undefined) state.steps++;
    this.#writer.append(file, { ts: Date.now(), runId: id, payload: step }, formatStep);
  }

  onRunEnd(runId: string, end: RunEnd): void {
    if (!this.enabled) return;
    const id = toRunId(runId);
    const ts = Date.now();
    const state = this.#runs.get(id);
    this.#runs.delete(id);
    const result = read(end, 'result');
    const r = isObject(result) ? result : {};
    const field = (key: string): unknown => read(r, key);
    const runPath = read(end, 'runPath');
    const startedAt = state?.startedAt ?? field('startedAt');
    const finishedAt = field('finishedAt');
    const steps = num(field('steps'));
    const totalReward = num(field('totalReward'));
    const line: Record<string, unknown> = {
      timestamp: '',
      run_id: id,
      started_at: typeof startedAt === 'string' ? startedAt : null,
      finished_at: typeof finishedAt === 'string' ? finishedAt : null,
      task: state?.task ?? (typeof field('task') === 'string' ? field('task') : ''),
      environment:
        state?.environment ??
        (typeof field('environment') === 'string' ? field('environment') : ''),
      params: isObject(state?.params) ? state.params : {},
      completed: field('completed') === true,
      steps: steps === null ? 0 : Math.trunc(steps),
      step_count_observed: state?.steps ?? 0,
      total_reward: totalReward ?? 0,
      run_path: typeof runPath === 'string' ? runPath : '',
    };
    if (state?.parentRunId !== undefined) line.parent_run_id = state.parentRunId;
    line.result = r;
    this.#writer.append(this.runsFile, { ts, runId: id, payload: line }, formatRun);
  }

  forceFlush(): Promise<void> {
    return this.#writer.flush();
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#writer.close();
    return this.#shutdown;
  }
}

function formatRun(q: unknown, write: (part: string) => void): void {
  const { ts, payload } = q as Queued;
  (payload as { timestamp: string }).timestamp = iso(ts);
  write(json(payload));
}

/**
 * Creates the `local-jsonl` sink (the sink package contract's factory).
 *
 * @example
 * ```ts
 * const obs = RLMObservability.withSinks([createJsonlSink({ dir: './obs' })]);
 * ```
 */
export function createJsonlSink(options: JsonlSinkOptions = {}): LocalJSONLSink {
  return new LocalJSONLSink(options);
}

function envBool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value.trim() === '') return fallback;
  return ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

/**
 * The sink as the seed's environment variables configure it: enabled unless
 * `DSPY_RLM_OBS_ENABLED` or `DSPY_RLM_OBS_LOCAL_JSONL` is false; directory from
 * `RLM_OBS_JSONL_DIR`, else the default.
 */
export function createJsonlSinkFromEnv(
  env: Record<string, string | undefined> = process.env,
  options: JsonlSinkOptions = {},
): LocalJSONLSink {
  const enabled =
    envBool(env.DSPY_RLM_OBS_ENABLED, true) && envBool(env.DSPY_RLM_OBS_LOCAL_JSONL, true);
  const dir = options.dir ?? (env.RLM_OBS_JSONL_DIR || undefined);
  return new LocalJSONLSink({ ...options, enabled, ...(dir !== undefined ? { dir } : {}) });
}
