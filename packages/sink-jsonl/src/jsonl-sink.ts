/**
 * `local-jsonl`: the embedded default sink. Same layout and field names as the Python
 * `LocalJSONLSink`, plus full fidelity (see records.ts), with buffered asynchronous writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  contentPolicy,
  describeValue,
  envFlag,
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  type ScoreRecord,
  SINK_SPECIFICATION_VERSION,
  type SinkCheckResult,
  type SinkContext,
  type SinkStatus,
  type StepRecord,
  safeStringify,
} from '@rlm/obs-core';
import { partOfFile, stepFileName } from './file-names.js';
import { isoTime } from './iso-time.js';
import { JsonlWriter } from './jsonl-writer.js';
import { makeDirectory } from './make-dir.js';
import { pruneDirectory, type RetentionOptions } from './retention.js';

/** The Python original's default, relative to the working directory. */
export const DEFAULT_JSONL_DIR = path.join('.rlm_code', 'rlm', 'observability');

/** Options of the `local-jsonl` sink. */
export interface JsonlSinkOptions {
  /**
   * The base directory. Relative paths resolve against the working directory (against the
   * config file's directory when the option comes from a config file).
   * @defaultValue `.rlm_code/rlm/observability` (env `RLM_OBS_JSONL_DIR`)
   */
  dir?: string;
  /**
   * `false`: the sink writes nothing and creates no directory.
   * @defaultValue `true` (env `DSPY_RLM_OBS_LOCAL_JSONL`, `DSPY_RLM_OBS_ENABLED`)
   */
  enabled?: boolean;
  /** The sink's name. @defaultValue `'local-jsonl'` */
  name?: string;
  /** Most files open at once. @defaultValue `64` */
  maxOpenFiles?: number;
  /**
   * How long lines wait for more before they are written (one `write()` per batch); `flush()`
   * and the process's exit write at once. Each `write()` costs the application's thread tens
   * of microseconds (handing it to libuv's pool and taking its completion), so an agent that
   * steps every millisecond pays a tenth of a percent per write a second. @defaultValue `100`
   */
  writeDelayMs?: number;
  /** Unwritten bytes held before new lines are dropped and counted. @defaultValue 64 MiB */
  maxBufferedBytes?: number;
  /** Runs whose start is remembered for their `runs.jsonl` line. @defaultValue `100000` */
  maxTrackedRuns?: number;
  /**
   * Local retention, so a long-lived agent never fills a disk: rotation of big steps files
   * and pruning of the oldest finished runs (see README). Off by default.
   * Each value is a number >= 0 (`0` or `Infinity`: no limit); anything else is a
   * `TypeError`. (env `RLM_OBS_JSONL_MAX_BYTES`, `RLM_OBS_JSONL_MAX_AGE_DAYS`,
   * `RLM_OBS_JSONL_MAX_STEP_FILE_BYTES`)
   */
  retention?: RetentionOptions;
}

/** Where the settings an option leaves unset come from (the config loader's `SinkContext`). */
export interface JsonlSinkSources {
  /** The environment to read `RLM_OBS_JSONL_*` and the switches from; not read when absent. */
  env?: Record<string, string | undefined> | undefined;
  /** What a relative `dir` option is relative to. @defaultValue the working directory */
  configDir?: string | undefined;
}

const RETENTION_KEYS = [
  'maxTotalBytes',
  'maxAgeDays',
  'maxStepFileBytes',
  'checkIntervalMs',
] as const;

/**
 * The `retention` in force: each key a number > 0; `0` and `Infinity` mean no limit.
 * A value of another kind is a `TypeError` (a config file's options are checked before, by
 * the package's `optionsSchema`).
 */
function retentionOf(name: string, given: unknown): RetentionOptions {
  if (given === undefined) return {};
  if (!isObject(given))
    throw new TypeError(
      `${name}: the retention option must be an object with ${RETENTION_KEYS.join(', ')} (got ${describeValue(given)})`,
    );
  const retention: RetentionOptions = {};
  for (const key of RETENTION_KEYS) {
    const value = given[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0)
      throw new TypeError(
        `${name}: retention.${key} must be a number >= 0 (got ${describeValue(value)})`,
      );
    const kept = positive(value);
    if (kept !== undefined) retention[key] = kept;
  }
  return retention;
}

interface RunState {
  startedAt: string;
  task: string;
  environment: string;
  params: unknown;
  parentRunId: string | undefined;
  sessionId: string | undefined;
  userId: string | undefined;
  tags: string[] | undefined;
  steps: number;
}

function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: string[] = [];
  for (const item of value) if (typeof item === 'string') out.push(item);
  return out;
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

let lastMs = -1;
let lastIso = '';
/** ISO time, computed once per millisecond. */
function iso(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = isoTime(ms);
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

const OPEN_BRACE = 0x7b;

/**
 * {@link json} of a value the layout keeps as an object (a step's `event`): what does not
 * serialize to one — a Proxy whose traps throw, a `toJSON` that returns a string, used
 * without the coordinator — is kept as `{"value": …}`, as the coordinator's pass keeps it.
 */
function objectJson(value: unknown): string {
  const text = json(value);
  return text.charCodeAt(0) === OPEN_BRACE ? text : `{"value":${text}}`;
}

/** The fields of a start or run line the layout keeps as objects (Python dicts). */
const OBJECT_FIELDS = ['params', 'attributes', 'result'] as const;

/**
 * {@link json} of a start or run line, whose {@link OBJECT_FIELDS} stay objects even when a
 * value there cannot be read (hostile input used without the coordinator).
 */
function lineJson(line: Record<string, unknown>): string {
  try {
    const text = JSON.stringify(line);
    if (text !== undefined) return text;
  } catch {
    // below
  }
  const safe = JSON.parse(safeStringify(line)) as Record<string, unknown>;
  for (const key of OBJECT_FIELDS)
    if (key in safe && !isObject(safe[key])) safe[key] = { value: safe[key] };
  return JSON.stringify(safe);
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

function formatStep(
  runId: string,
  payload: unknown,
  ts: number,
  write: (part: string) => void,
): void {
  let event: unknown;
  let actionType: unknown;
  let success: unknown;
  let step: unknown;
  let reward: unknown;
  let cumulative: unknown;
  try {
    // Fast path: the coordinator hands over plain sanitized data.
    const p = payload as { event?: any; cumulativeReward?: unknown };
    const e = p.event;
    event = e;
    cumulative = p.cumulativeReward;
    const action = e?.action;
    actionType = typeof action === 'string' ? action : action?.action;
    success = e?.observation?.success;
    step = e?.step;
    reward = e?.reward;
  } catch {
    // Hostile input used without the coordinator (throwing getters, Proxies).
    event = read(payload, 'event');
    const action = read(event, 'action');
    actionType = typeof action === 'string' ? action : read(action, 'action');
    success = read(read(event, 'observation'), 'success');
    step = read(event, 'step');
    reward = read(event, 'reward');
    cumulative = read(payload, 'cumulativeReward');
  }
  // The Python fields first, then the whole event.
  write(
    linePrefix(ts, runId) +
      num(step) +
      actionPart(typeof actionType === 'string' ? actionType : undefined) +
      num(reward) +
      ',"cumulative_reward":' +
      (num(cumulative) ?? 0) +
      (success === true ? SUCCESS_TRUE : success === false ? SUCCESS_FALSE : SUCCESS_NULL),
  );
  // The event's JSON goes out as its own (flat) part: no concatenation to flatten again.
  write(isObject(event) ? objectJson(event) : '{}');
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

const SUCCESS_TRUE = ',"success":true,"event":';
const SUCCESS_FALSE = ',"success":false,"event":';
const SUCCESS_NULL = ',"success":null,"event":';
let lastAction: string | undefined;
let lastActionPart = ',"action":null,"reward":';
/** `,"action":"<type>","reward":` — fewer pieces to join per line (they cost allocations). */
function actionPart(action: string | undefined): string {
  if (action !== lastAction) {
    lastAction = action;
    lastActionPart = `,"action":${action === undefined ? 'null' : JSON.stringify(action)},"reward":`;
  }
  return lastActionPart;
}

let prefixTs = -1;
let prefixRunId = '';
let prefix = '';
/** `{"timestamp":"…","run_id":…,"step":` — the same for every line of a run within 1 ms. */
function linePrefix(ts: number, runId: string): string {
  if (ts !== prefixTs || runId !== prefixRunId) {
    prefixTs = ts;
    prefixRunId = runId;
    prefix = `{"timestamp":"${iso(ts)}","run_id":${quoteRunId(runId)},"step":`;
  }
  return prefix;
}

function formatStart(
  runId: string,
  payload: unknown,
  ts: number,
  write: (part: string) => void,
): void {
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
  const session = read(payload, 'sessionId');
  if (typeof session === 'string') line.session_id = session;
  const user = read(payload, 'userId');
  if (typeof user === 'string') line.user_id = user;
  const tags = stringList(read(payload, 'tags'));
  if (tags !== undefined) line.tags = tags;
  const withheld = withheldContent(read(payload, 'recordContent'));
  if (withheld !== undefined) line.record_content = withheld;
  line.pid = process.pid;
  write(lineJson(line));
}

/**
 * The run's content policy as the start line keeps it (`record_content`), only when it
 * withholds something from remote sinks: the local files keep the content, and `replay`
 * withholds it again from the sinks it replays to.
 */
function withheldContent(value: unknown): { inputs: boolean; outputs: boolean } | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean' && !isObject(value)) return undefined;
  let policy: { inputs: boolean; outputs: boolean };
  try {
    policy = contentPolicy(value as Parameters<typeof contentPolicy>[0]);
  } catch {
    // unreadable: the safe side
    policy = { inputs: false, outputs: false };
  }
  return policy.inputs && policy.outputs
    ? undefined
    : { inputs: policy.inputs, outputs: policy.outputs };
}

/** A line of `scores.jsonl` (see records.ts). */
function formatScore(
  runId: string,
  payload: unknown,
  ts: number,
  write: (part: string) => void,
): void {
  const score = payload as ScoreRecord;
  const line: Record<string, unknown> = {
    timestamp: iso(ts),
    run_id: runId,
    name: score.name,
    value: score.value,
    kind: score.kind,
  };
  if (score.comment !== undefined) line.comment = score.comment;
  if (score.step !== undefined) line.step = score.step;
  if (score.source !== undefined) line.source = score.source;
  line.at = score.at;
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
  /** The local files keep every run unless the config sets a rate for this sink by name. */
  readonly defaultSamplingRate = 1;
  /** Writes only to this machine: content switches never withhold content from it. */
  readonly local = true;
  /** The absolute base directory. */
  readonly dir: string;
  readonly enabled: boolean;
  readonly runsFile: string;
  readonly startsFile: string;
  readonly scoresFile: string;
  readonly stepsDir: string;
  /** The retention in force (empty when off). */
  readonly retention: Readonly<RetentionOptions>;

  readonly #writer: JsonlWriter;
  readonly #runs = new Map<string, RunState>();
  readonly #maxTrackedRuns: number;
  #available = true;
  #setupError: string | undefined;
  #lastError: string | undefined;
  /** `linesFailed` as the last flush reported it. */
  #failedReported = 0;
  #lastRunId: string | undefined;
  #lastStepFile = '';
  #lastState: RunState | undefined;
  #shutdown: Promise<void> | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #pruning: Promise<void> | undefined;
  #prunedRuns = 0;
  #prunedBytes = 0;
  #prunePasses = 0;

  constructor(options: JsonlSinkOptions = {}) {
    this.name = options.name ?? 'local-jsonl';
    this.enabled = options.enabled !== false;
    this.dir = path.resolve(options.dir ?? DEFAULT_JSONL_DIR);
    this.runsFile = path.join(this.dir, 'runs.jsonl');
    this.startsFile = path.join(this.dir, 'starts.jsonl');
    this.scoresFile = path.join(this.dir, 'scores.jsonl');
    this.stepsDir = path.join(this.dir, 'steps');
    this.#maxTrackedRuns = Math.max(1, options.maxTrackedRuns ?? 100_000);
    const retention = retentionOf(this.name, options.retention);
    this.retention = Object.freeze(retention);
    const stepsPrefix = this.stepsDir + path.sep;
    this.#writer = new JsonlWriter({
      ...(retention.maxStepFileBytes !== undefined
        ? {
            rotation: {
              maxFileBytes: retention.maxStepFileBytes,
              applies: (file: string) => file.startsWith(stepsPrefix),
              partPath: (file: string, part: number) =>
                path.join(path.dirname(file), partOfFile(path.basename(file), part)),
            },
          }
        : {}),
      ...(options.maxOpenFiles !== undefined ? { maxOpenFiles: options.maxOpenFiles } : {}),
      ...(options.writeDelayMs !== undefined ? { writeDelayMs: options.writeDelayMs } : {}),
      ...(options.maxBufferedBytes !== undefined
        ? { maxBufferedBytes: options.maxBufferedBytes }
        : {}),
      onError: (error) => {
        this.#lastError = error instanceof Error ? error.message : String(error);
      },
    });
    if (this.enabled) {
      try {
        makeDirectory(this.stepsDir);
      } catch (error) {
        this.#available = false;
        this.#setupError = error instanceof Error ? error.message : String(error);
      }
      if (
        this.#available &&
        (retention.maxTotalBytes !== undefined || retention.maxAgeDays !== undefined)
      ) {
        this.#pruneTimer = setInterval(() => {
          void this.prune();
        }, retention.checkIntervalMs ?? 60_000);
        this.#pruneTimer.unref?.();
      }
    }
  }

  status(): SinkStatus {
    const stats = this.#writer.stats;
    const status: SinkStatus = {
      name: this.name,
      enabled: this.enabled,
      // Seed 001's table: a disabled sink shows `available=False, detail=disabled`.
      available: this.enabled && this.#available,
      detail: !this.enabled
        ? 'disabled'
        : this.#setupError
          ? `unavailable: ${this.#setupError}`
          : this.dir,
      lines_written: stats.linesWritten,
      lines_failed: stats.linesFailed,
      lines_dropped: stats.linesDropped,
      backlog: this.#writer.backlog,
      open_files: stats.openFiles,
      rotated: stats.rotations,
      reopened: stats.reopens,
      pruned_runs: this.#prunedRuns,
      pruned_bytes: this.#prunedBytes,
      prune_passes: this.#prunePasses,
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
    const session = read(start, 'sessionId');
    const user = read(start, 'userId');
    if (this.#runs.size >= this.#maxTrackedRuns) {
      const oldest = this.#runs.keys().next().value;
      if (oldest !== undefined) {
        this.#runs.delete(oldest);
        if (oldest === this.#lastRunId) this.#lastRunId = undefined;
      }
    }
    if (id === this.#lastRunId) this.#lastRunId = undefined;
    this.#runs.set(id, {
      startedAt: typeof startedAt === 'string' ? startedAt : iso(ts),
      task: typeof task === 'string' ? task : '',
      environment: typeof environment === 'string' ? environment : '',
      params: read(start, 'params'),
      parentRunId: typeof parent === 'string' ? parent : undefined,
      sessionId: typeof session === 'string' ? session : undefined,
      userId: typeof user === 'string' ? user : undefined,
      tags: stringList(read(start, 'tags')),
      steps: 0,
    });
    this.#writer.append(this.startsFile, formatStart, id, start, ts);
  }

  onStep(runId: string, step: StepRecord): void {
    if (!this.enabled) return;
    const id = typeof runId === 'string' ? runId : toRunId(runId);
    // Steps of one run usually come in a row: remember its file and state.
    if (id !== this.#lastRunId) {
      this.#lastRunId = id;
      this.#lastStepFile = path.join(this.stepsDir, stepFileName(id));
      this.#lastState = this.#runs.get(id);
    }
    const file = this.#lastStepFile;
    const state = this.#lastState;
    if (state !== undefined) state.steps++;
    this.#writer.append(file, formatStep, id, step, Date.now());
  }

  onRunEnd(runId: string, end: RunEnd): void {
    if (!this.enabled) return;
    const id = toRunId(runId);
    const ts = Date.now();
    const state = this.#runs.get(id);
    this.#runs.delete(id);
    if (id === this.#lastRunId) this.#lastRunId = undefined;
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
    if (state?.sessionId !== undefined) line.session_id = state.sessionId;
    if (state?.userId !== undefined) line.user_id = state.userId;
    if (state?.tags !== undefined) line.tags = state.tags;
    line.result = r;
    this.#writer.append(this.runsFile, formatRun, id, line, ts);
  }

  /** A score or feedback: one line of `scores.jsonl` (also after the run ended). */
  onScore(runId: string, score: ScoreRecord): void {
    if (!this.enabled) return;
    const name = read(score, 'name');
    const value = read(score, 'value');
    if (typeof name !== 'string' || name === '') return;
    if (
      !(typeof value === 'number' && Number.isFinite(value)) &&
      typeof value !== 'string' &&
      typeof value !== 'boolean'
    )
      return;
    const ts = Date.now();
    const comment = read(score, 'comment');
    const step = read(score, 'step');
    const source = read(score, 'source');
    const at = read(score, 'at');
    // A plain copy: the line is formatted later, off the caller's path.
    const record: ScoreRecord = {
      name,
      value,
      kind: read(score, 'kind') === 'feedback' ? 'feedback' : 'score',
      at: typeof at === 'string' && at !== '' ? at : iso(ts),
    };
    if (typeof comment === 'string') record.comment = comment;
    if (typeof step === 'number' && Number.isSafeInteger(step)) record.step = step;
    if (typeof source === 'string') record.source = source;
    this.#writer.append(this.scoresFile, formatScore, toRunId(runId), record, ts);
  }

  /**
   * One retention pass (see {@link RetentionOptions}): removes the oldest finished runs past
   * `maxTotalBytes` or older than `maxAgeDays`. Runs by itself on a timer and on
   * `forceFlush()`/`shutdown()`; concurrent calls share a pass. Never throws.
   */
  prune(): Promise<void> {
    const { maxTotalBytes, maxAgeDays } = this.retention;
    if (!this.enabled || !this.#available) return Promise.resolve();
    if (maxTotalBytes === undefined && maxAgeDays === undefined) return Promise.resolve();
    this.#pruning ??= (async () => {
      try {
        const result = await pruneDirectory({
          dir: this.dir,
          stepsDir: this.stepsDir,
          runsFile: this.runsFile,
          startsFile: this.startsFile,
          scoresFile: this.scoresFile,
          maxTotalBytes,
          maxAgeDays,
          now: Date.now(),
          isOpen: (runId) => this.#runs.has(runId),
          exclusive: (files, fn, drain) => this.#writer.exclusive(files, fn, drain),
        });
        this.#prunePasses++;
        this.#prunedRuns += result.runs;
        this.#prunedBytes += result.bytes;
      } catch (error) {
        this.#lastError = `retention: ${error instanceof Error ? error.message : String(error)}`;
      } finally {
        this.#pruning = undefined;
      }
    })();
    return this.#pruning;
  }

  /** `rlm-obs doctor`: the directory exists (or can be made) and takes writes. */
  async check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    const probe = path.join(this.stepsDir, `.rlm-obs-doctor-${process.pid}-${Date.now()}`);
    try {
      makeDirectory(this.stepsDir);
      await fs.promises.writeFile(probe, 'ok\n');
      await fs.promises.rm(probe, { force: true });
      return { ok: true, problems: [], detail: `${this.dir} is writable` };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return {
        ok: false,
        detail: this.dir,
        problems: [
          {
            problem: `cannot write to ${this.dir}: ${reason}`,
            fix: 'point the sink at a writable directory (option dir, env RLM_OBS_JSONL_DIR, or rlm-obs --dir)',
          },
        ],
      };
    }
  }

  /**
   * Writes everything buffered; rejects when lines could not be written since the last
   * flush (the coordinator's report then says `ok: false` with why), so a lost line shows
   * in the flush report, not only in `status()`.
   */
  async forceFlush(): Promise<void> {
    await this.#writer.flush();
    await this.prune();
    this.#reportFailedLines();
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      if (this.#pruneTimer !== undefined) clearInterval(this.#pruneTimer);
      this.#pruneTimer = undefined;
      await this.#writer.flush();
      await this.prune();
      await this.#writer.close();
      this.#reportFailedLines();
    })();
    return this.#shutdown;
  }

  /** Throws when lines failed since the last report (each failure is reported once). */
  #reportFailedLines(): void {
    const failed = this.#writer.stats.linesFailed - this.#failedReported;
    if (failed <= 0) return;
    this.#failedReported += failed;
    const why = this.#lastError ? `: ${this.#lastError}` : '';
    throw new Error(
      `${failed} line${failed === 1 ? '' : 's'} could not be written to ${this.dir}${why}`,
    );
  }
}

function formatRun(
  _runId: string,
  payload: unknown,
  ts: number,
  write: (part: string) => void,
): void {
  (payload as { timestamp: string }).timestamp = iso(ts);
  write(lineJson(payload as Record<string, unknown>));
}

/** A positive number from an env var, else undefined. */
function envNumber(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return positive(Number(value));
}

/**
 * The options the sink runs with — one rule for the sink and for whoever reads its files
 * (`rlm-obs runs` looks where the sink writes): each option given wins; with `sources.env`,
 * every option left unset comes from the environment — `dir` from `RLM_OBS_JSONL_DIR`,
 * `enabled` from `DSPY_RLM_OBS_ENABLED` and `DSPY_RLM_OBS_LOCAL_JSONL`, each `retention` key
 * from `RLM_OBS_JSONL_MAX_BYTES`, `RLM_OBS_JSONL_MAX_AGE_DAYS` and
 * `RLM_OBS_JSONL_MAX_STEP_FILE_BYTES` — then the defaults. `dir` comes back absolute: the
 * option's relative to `sources.configDir` (else the working directory), the env var's
 * relative to the working directory.
 *
 * @example
 * ```ts
 * const { dir } = resolveJsonlSinkOptions({}, { env: process.env }); // where the files are
 * ```
 */
export function resolveJsonlSinkOptions(
  options: JsonlSinkOptions = {},
  sources: JsonlSinkSources = {},
): JsonlSinkOptions & { dir: string; enabled: boolean } {
  const env = sources.env;
  const envDir = env?.RLM_OBS_JSONL_DIR || undefined;
  const dir =
    options.dir !== undefined
      ? path.resolve(sources.configDir ?? '', options.dir)
      : path.resolve(envDir ?? DEFAULT_JSONL_DIR);
  const enabled =
    options.enabled ??
    (env === undefined ||
      (envFlag(env.DSPY_RLM_OBS_ENABLED, true) && envFlag(env.DSPY_RLM_OBS_LOCAL_JSONL, true)));
  const resolved: JsonlSinkOptions & { dir: string; enabled: boolean } = {
    ...options,
    dir,
    enabled,
  };
  if (env !== undefined) {
    const fromEnv: Record<string, number | undefined> = {
      maxTotalBytes: envNumber(env.RLM_OBS_JSONL_MAX_BYTES),
      maxAgeDays: envNumber(env.RLM_OBS_JSONL_MAX_AGE_DAYS),
      maxStepFileBytes: envNumber(env.RLM_OBS_JSONL_MAX_STEP_FILE_BYTES),
    };
    const given = options.retention;
    // A retention that is not an object is the constructor's TypeError to report.
    if (given === undefined || isObject(given)) {
      const retention: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(fromEnv))
        if (value !== undefined) retention[key] = value;
      for (const [key, value] of Object.entries(given ?? {}))
        if (value !== undefined) retention[key] = value;
      if (Object.keys(retention).length > 0) resolved.retention = retention as RetentionOptions;
    }
  }
  return resolved;
}

/**
 * Creates the `local-jsonl` sink (the sink package contract's factory). With a `context`
 * (the config loader's), the environment fills in what the options leave unset and a relative
 * `dir` is relative to the config file — see {@link resolveJsonlSinkOptions}. Without one,
 * only the options count.
 *
 * @example
 * ```ts
 * const obs = RLMObservability.withSinks([createJsonlSink({ dir: './obs' })]);
 * ```
 */
export function createJsonlSink(
  options: JsonlSinkOptions = {},
  context?: Partial<SinkContext>,
): LocalJSONLSink {
  return new LocalJSONLSink(
    resolveJsonlSinkOptions(options, { env: context?.env, configDir: context?.configDir }),
  );
}

/**
 * The sink as the seed's environment variables configure it: enabled unless
 * `DSPY_RLM_OBS_ENABLED` or `DSPY_RLM_OBS_LOCAL_JSONL` is false; directory from
 * `RLM_OBS_JSONL_DIR`, else the default; retention from `RLM_OBS_JSONL_MAX_BYTES`,
 * `RLM_OBS_JSONL_MAX_AGE_DAYS` and `RLM_OBS_JSONL_MAX_STEP_FILE_BYTES`. Options win, `enabled`
 * included.
 */
export function createJsonlSinkFromEnv(
  env: Record<string, string | undefined> = process.env,
  options: JsonlSinkOptions = {},
): LocalJSONLSink {
  return new LocalJSONLSink(resolveJsonlSinkOptions(options, { env }));
}
