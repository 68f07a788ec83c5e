/**
 * `mlflow`: the Python original's MLflowSink over the REST client — one MLflow run per RLM
 * run (named by the run id), params, per-step metrics, end metrics, the `run_path` directory
 * as artifacts, status FINISHED or FAILED — plus nested runs as MLflow child runs, LLM token
 * and cost metrics, and replays that find the existing MLflow run by its `run_id` tag. Scores
 * and feedback are metrics (`score.<name>`, `feedback.<name>`) or tags; the session, user and
 * labels are tags; after a 401/403 the sink pauses (`AuthCooldown`).
 *
 * Hooks only queue operations; one worker sends them in order, so the caller never waits on
 * MLflow, and a server that goes away costs counted failures, not a blocked agent. A run's end
 * (final metrics, artifacts, status) stays pending until MLflow took it, so a run that ends
 * while the server is down is still ended once it is back.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { context, createContextKey } from '@opentelemetry/api';
import {
  AuthCooldown,
  type AuthCooldownOptions,
  createRedactor,
  errorText,
  holdWhilePending,
  isAuthFailure,
  isRecord as isObject,
  finiteNumber as num,
  type Redactor,
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  type ScoreRecord,
  SINK_SPECIFICATION_VERSION,
  type SinkCheckResult,
  type SinkFinishOptions,
  type SinkStatus,
  type StepEvent,
  type StepRecord,
  stepUsages,
  epochMs as timeOf,
} from '@rlm/obs-core';
import { codePointLength, KeyNames } from './keys.js';
import {
  ExperimentDeletedError,
  MlflowClient,
  MlflowError,
  type MlflowMetric,
  type MlflowRun,
} from './mlflow-client.js';

/**
 * The context key `@opentelemetry/core`'s `suppressTracing()` sets (`createContextKey` uses
 * `Symbol.for`, so it is the same key): the sink's own requests run with it, so an
 * application's HTTP/undici instrumentation does not record them.
 */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/**
 * A param's value as the Python original's `mlflow.log_params` stores it (`str(value)`):
 * booleans `True`/`False`, null `None`. A number stays `String(n)`: JavaScript cannot tell
 * `1.0` (Python `'1.0'`) from `1` (`'1'`).
 */
function paramValue(value: string | number | boolean | null): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/**
 * MLflow answered and refused the request for good: not busy or failing (429, 5xx, retried
 * by the client) and not refusing the credentials (retried after the auth pause).
 */
function rejectedForGood(error: unknown): boolean {
  return error instanceof MlflowError && !error.retryable && !isAuthFailure(error.status);
}

/** A file system error's code (`EACCES`), else its message. */
function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : errorText(error).split('\n')[0]!;
}

/** Options of the `mlflow` sink. */
export interface MlflowSinkOptions {
  /** @defaultValue `true` (env `DSPY_RLM_MLFLOW_ENABLED` with `createMlflowSinkFromEnv`) */
  enabled?: boolean;
  /** @defaultValue `http://localhost:5000` (env `MLFLOW_TRACKING_URI`) */
  trackingUri?: string;
  /** @defaultValue `'rlm-code-rlm'` (env `DSPY_RLM_MLFLOW_EXPERIMENT`) */
  experiment?: string;
  /** env `MLFLOW_TRACKING_USERNAME` */
  username?: string;
  /** env `MLFLOW_TRACKING_PASSWORD` */
  password?: string;
  /** env `MLFLOW_TRACKING_TOKEN` */
  token?: string;
  /** Per request. @defaultValue `10000` */
  timeoutMs?: number;
  /** @defaultValue `3` */
  maxRetries?: number;
  /** Operations held while MLflow is slow; more are dropped and counted. @defaultValue `10000` */
  maxQueueSize?: number;
  /**
   * Step metrics (2–5 per step) waiting for MLflow, across runs; while MLflow is slow or down,
   * the steps beyond it are dropped and counted (`dropped_steps`) — `rlm-obs replay` sends
   * them later. @defaultValue `50000`
   */
  maxPendingMetrics?: number;
  /**
   * Runs started and not yet ended that the sink holds at most. When one more starts, the
   * oldest open run is ended in MLflow as `KILLED` with the tag `rlm.evicted = true` (its
   * waiting step metrics sent first) and counted (`evicted_runs`), so runs that never end
   * cannot grow a long-lived host's memory; its later steps are ignored, its end and scores
   * still reach it. @defaultValue `10000`
   */
  maxOpenRuns?: number;
  /** Upload the run's `run_path` directory as artifacts. @defaultValue `true` */
  uploadArtifacts?: boolean;
  /** @defaultValue `'mlflow'` */
  name?: string;
  /**
   * The pause after MLflow refuses the credentials (HTTP 401/403): one minute, doubling up to
   * fifteen. `now`/`random` are for tests.
   */
  authCooldown?: AuthCooldownOptions;
}

interface RunState {
  mlflowRunId: string | undefined;
  artifactUri: string | undefined;
  /** The run could not be created: its later operations count as failed. */
  broken: boolean;
  /** Creates the MLflow run; kept until it worked, so a run refused during an auth failure is created after the pause. */
  create: (() => Promise<void>) | undefined;
  /**
   * The run's params until MLflow has them: a run created just before the server went away
   * (or found again by a replay) gets them with its next operation.
   */
  params: Record<string, string> | undefined;
  pendingMetrics: MlflowMetric[];
  /** Steps whose metrics are in `pendingMetrics`. */
  pendingSteps: number;
  /**
   * For an MLflow run found again (a replay): the steps each step metric already has. Only
   * the missing ones are sent — a step's time may differ from its first delivery's (events
   * without `startedAt`), and MLflow keeps such a point as a second one.
   */
  logged: Map<string, Set<number>> | undefined;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Ended as `KILLED` to keep under `maxOpenRuns`; its own end may still come. */
  evicted: boolean;
  /** The run's tag and metric names → their MLflow keys (distinct after cleaning). */
  tagKeys: KeyNames;
  metricKeys: KeyNames;
  /** Why MLflow refused to create the run: what its later operations report. */
  createError: string | undefined;
  /** The run's end until MLflow took all of it (see {@link PendingEnd}). */
  end: PendingEnd | undefined;
  /** An operation sending `end` is queued. */
  endQueued: boolean;
}

/**
 * A run's end — final metrics, tags, artifacts, status — until MLflow took it. Each part is
 * cleared once sent (or refused for good); the rest is sent again by a later flush or after a
 * later write is accepted, so a run that ended while MLflow was down is still ended.
 */
interface PendingEnd {
  status: 'FINISHED' | 'FAILED' | 'KILLED';
  endMs: number;
  metrics: MlflowMetric[] | undefined;
  tags: Record<string, string> | undefined;
  /** The run's `run_path`, until its files are uploaded. */
  runPath: string | undefined;
  /**
   * The files found under `runPath` (looked for once), those done with (uploaded or given up)
   * and the failed uploads of the others (given up at {@link MAX_ARTIFACT_ATTEMPTS}).
   */
  artifacts:
    | { files: ArtifactFile[]; uploaded: Set<string>; failures: Map<string, number> }
    | undefined;
  statusSent: boolean;
}

/** Artifact files whose upload got no answer, and why. */
type Unanswered = Array<{ relative: string; error: unknown }>;

interface ArtifactFile {
  file: string;
  /** Its path among the run's artifacts. */
  relative: string;
}

interface Operation {
  run: () => Promise<void>;
  /** Events the operation carries, counted as skipped when an auth pause drops it. */
  events: () => number;
  /** Called instead of `run` during an auth pause. */
  skip?: () => void;
}

/** The metrics logged per step (a replay sends the steps they are missing). */
const STEP_METRICS = [
  'step_reward',
  'cumulative_reward',
  'input_tokens',
  'output_tokens',
  'cost_usd',
];

/** Open runs held at most (see `MlflowSinkOptions.maxOpenRuns`). */
const DEFAULT_MAX_OPEN_RUNS = 10_000;
/** Ended runs remembered for late scores. */
const MAX_ENDED_RUNS = 10_000;
/** Labels beyond this many are only in `rlm.tags`. */
const MAX_LABEL_TAGS = 50;
/** Tag and metric names whose keys a run remembers (see `KeyNames`). */
const MAX_RUN_KEYS = 200;
/** Ended runs whose end waits for MLflow; beyond, the oldest is given up (`ends_dropped`). */
const MAX_PENDING_ENDS = 10_000;
/** Files of one run's `run_path` uploaded at most; the rest are counted (`artifacts_skipped`). */
const MAX_ARTIFACT_FILES = 10_000;
/**
 * Failed uploads of one artifact file (each with the client's retries) before it is given up
 * and counted (`artifacts_skipped`): a file MLflow keeps failing never keeps a run's end
 * pending for good.
 */
const MAX_ARTIFACT_ATTEMPTS = 3;

/**
 * A run's `artifact_uri` for a message: its scheme (`s3://…`), or `/…` for a path on the
 * server — never the rest (a bucket, a path, credentials).
 */
function artifactStore(uri: string): string {
  const scheme = /^([a-z][a-z0-9+.-]+):(\/\/)?/i.exec(uri);
  if (scheme) return `${scheme[1]}:${scheme[2] ?? ''}…`;
  return uri.startsWith('/') ? '/…' : '…';
}

/** Run ids that can be quoted in an MLflow filter string as they are. */
const SEARCHABLE_ID = /^[\w .:/@+-]{1,250}$/;

/**
 * The task's length as the Python original's `len(task)` gives it (code points). With
 * `recordContent: false` the sink gets `[content omitted: <n> chars]` instead of the task: the
 * size it carries is the task's.
 */
function taskChars(task: string): number {
  const omitted = /^\[content omitted: (\d+) chars( of JSON)?\]$/.exec(task);
  if (omitted) return omitted[2] ? 0 : Number(omitted[1]);
  return codePointLength(task);
}

/**
 * Why this sink cannot use a tracking URI (`reason`, completing "tracking URI '…' …") and what
 * to do instead, neither showing the URI; `undefined` for an `http(s)://` URL. MLflow's Python
 * client takes other URIs too — local paths and `file:` (its file store), databases,
 * `databricks` — but this sink talks to a tracking server's REST API only. A `host:port`
 * without `http://` is refused as MLflow's own client refuses it (that reads `localhost:5000`
 * as the scheme `localhost`, and `127.0.0.1:5000` as a folder).
 */
export function trackingUriProblem(uri: string): { reason: string; fix: string } | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase();
  const server =
    'set trackingUri (MLFLOW_TRACKING_URI) to the tracking server, e.g. http://localhost:5000';
  if (scheme === 'http' || scheme === 'https') {
    try {
      if (new URL(uri).host) return undefined;
    } catch {
      // below
    }
    return { reason: 'is not a valid URL', fix: server };
  }
  const hostPort = /^(?:[^@/\s]*@)?(\[[0-9a-f:.]+\]|[\w.-]+):(\d+)(?:[/?#].*)?$/i.exec(uri);
  if (hostPort && !/^[a-z]$/i.test(hostPort[1]!))
    return {
      reason: 'has no scheme',
      fix: 'write it with http:// (or https://) before the host, e.g. http://localhost:5000',
    };
  if (/^(databricks(-uc)?|uc)(:|$)/i.test(uri))
    return {
      reason: 'is a Databricks profile, which this sink does not support',
      fix: 'set trackingUri to the workspace URL (https://<workspace>.cloud.databricks.com) and the token (MLFLOW_TRACKING_TOKEN) to a Databricks token',
    };
  if (scheme === undefined || scheme === 'file' || /^[a-z]:[\\/]/i.test(uri))
    return {
      reason:
        'is a local MLflow file store, which this sink does not support (it talks to a tracking server over HTTP)',
      fix: 'run `mlflow server` and set trackingUri (MLFLOW_TRACKING_URI) to its http:// URI, or record to local files with the jsonl sink',
    };
  if (/^(sqlite|postgresql|mysql|mssql)(\+|$)/.test(scheme))
    return {
      reason:
        'is a database, which this sink does not write to (it talks to a tracking server over HTTP)',
      fix: 'run `mlflow server --backend-store-uri <that URI>` and set trackingUri (MLFLOW_TRACKING_URI) to its http:// URI',
    };
  return {
    reason: `has the scheme '${scheme}:'; this sink supports http:// and https:// only`,
    fix: server,
  };
}

/** The tracking URI with credentials removed: safe for `detail`. */
export function maskUri(uri: string): string {
  // Without `scheme://`, a URL parser reads `localhost:5000` as the scheme `localhost:` (and
  // `user:pass@host:5000` as the scheme `user:`): only what is before an `@` is hidden.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(uri))
    return uri.replace(/[?#].*$/s, '').replace(/^[^@/]*@/, '***@');
  try {
    const u = new URL(uri);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
      return `${u.protocol}//***@${u.host}${u.pathname === '/' ? '' : u.pathname}`;
    }
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return uri.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** What `stats()` returns. */
export interface MlflowSinkStats {
  operations: number;
  failed: number;
  dropped: number;
  /** Steps whose metrics were dropped (more than `maxPendingMetrics` waited). */
  dropped_steps: number;
  queued: number;
  /** Step metrics waiting to be sent. */
  pending_metrics: number;
  unmatched_scores: number;
  /** Open runs ended as `KILLED` to keep under `maxOpenRuns`. */
  evicted_runs: number;
  /** Ended runs whose end (final metrics, artifacts, status) MLflow has not taken yet. */
  pending_ends: number;
  /** Run ends given up: more than 10,000 waited for MLflow. */
  ends_dropped: number;
  /**
   * Files of a `run_path` not uploaded (unreadable, not a regular file, over the cap, refused,
   * failing 3 times, or the server does not proxy artifacts).
   */
  artifacts_skipped: number;
  authFailures: number;
  authSkipped: number;
  authPausedUntil: string | null;
  last_error?: string;
}

/** The `mlflow` sink. */
export class MlflowSink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  readonly enabled: boolean;
  readonly experiment: string;
  readonly trackingUri: string;
  /** Resolves when the experiment is known (or setup failed). */
  readonly ready: Promise<void>;
  /** Counters, also in `stats()`. */
  readonly counters = {
    operations: 0,
    failed: 0,
    dropped: 0,
    /** Steps whose metrics were dropped: more than `maxPendingMetrics` waited. */
    dropped_steps: 0,
    requests_retried: 0,
    /** Scores on runs that have no MLflow run (never started anywhere this sink can see). */
    unmatched_scores: 0,
    /** Open runs ended as `KILLED` to keep under `maxOpenRuns`. */
    evicted_runs: 0,
    /** Run ends given up: more than {@link MAX_PENDING_ENDS} waited for MLflow. */
    ends_dropped: 0,
    /** Files of a `run_path` not uploaded. */
    artifacts_skipped: 0,
  };

  readonly #client: MlflowClient | undefined;
  /** The same client without the shutdown's abort, for `check()`. */
  readonly #checkClient: MlflowClient | undefined;
  readonly #maxQueue: number;
  readonly #maxPendingMetrics: number;
  readonly #maxOpenRuns: number;
  /** Step metrics waiting in every run's `pendingMetrics`. */
  #pendingMetrics = 0;
  #droppedStepsReported = 0;
  readonly #uploadArtifacts: boolean;
  #experimentId: string | undefined;
  #available = false;
  #detail: string;
  #lastError: string | undefined;
  /**
   * Knows the password, the token and the URL's credentials (a server may echo them in an
   * error): every text the sink shows goes through it.
   */
  readonly #redactor: Redactor;
  #queue: Operation[] = [];
  #working: Promise<void> | undefined;
  #runs = new Map<string, RunState>();
  #ended = new Map<string, RunState>();
  #shutdown: Promise<void> | undefined;
  #idle: Array<() => void> = [];
  readonly #cooldown: AuthCooldown;
  /**
   * Setup failed — the server unreachable, busy or refusing the credentials: `available`
   * stays false until a write is accepted (the sink keeps trying meanwhile).
   */
  #setupFailed = false;
  /** The tracking URI cannot be used (no scheme, a file store, …): nothing is sent. */
  #uriProblem: { problem: string; fix: string } | undefined;
  /** Runs not sent because of `#uriProblem`, and how many of them a flush reported. */
  #unsent = 0;
  #unsentReported = 0;
  /** Runs whose end MLflow has not taken yet, oldest first. */
  #pendingEnds = new Set<RunState>();
  /** An operation retrying the pending ends is queued. */
  #endsRetryQueued = false;
  /** MLflow accepted a write since the worker last looked: the pending ends are tried again. */
  #wroteOk = false;
  /**
   * Responses MLflow gave (any status): a failure with this unchanged since the request began
   * had no answer — MLflow is unreachable, not failing one run's request.
   */
  #answers = 0;
  #endsDroppedReported = 0;
  #artifactsSkippedReported = 0;
  /** Why the last artifact file was skipped. */
  #lastArtifactSkip: string | undefined;
  /** The experiment is being looked up (`detail` says "checking the server"). */
  #settingUp = false;
  /** Aborted at shutdown: ends the client's requests and retries (setup included). */
  readonly #abort = new AbortController();

  constructor(options: MlflowSinkOptions = {}) {
    this.name = options.name ?? 'mlflow';
    this.enabled = options.enabled !== false;
    this.experiment = options.experiment ?? 'rlm-code-rlm';
    this.trackingUri = (options.trackingUri ?? 'http://localhost:5000').replace(/\/+$/, '');
    this.#maxQueue = Math.max(1, options.maxQueueSize ?? 10_000);
    this.#maxPendingMetrics = Math.max(10, options.maxPendingMetrics ?? 50_000);
    this.#maxOpenRuns = Math.max(1, options.maxOpenRuns ?? DEFAULT_MAX_OPEN_RUNS);
    this.#uploadArtifacts = options.uploadArtifacts !== false;
    this.#detail = this.enabled ? maskUri(this.trackingUri) : 'disabled';
    this.ready = Promise.resolve();
    this.#cooldown = new AuthCooldown(options.authCooldown);
    this.#redactor = createRedactor();
    for (const secret of [options.password, options.token])
      if (secret) this.#redactor.remember(secret);
    if (options.username !== undefined && options.password !== undefined)
      this.#redactor.remember(
        Buffer.from(`${options.username}:${options.password}`).toString('base64'),
      );
    this.#redactor.redactString(this.trackingUri); // learns the URL's `user:password`, if any
    try {
      // The client sends a URL's credentials as Basic auth: a backend may echo that value.
      const { username, password } = new URL(this.trackingUri);
      if (username || password)
        this.#redactor.remember(
          Buffer.from(`${decodeURIComponent(username)}:${decodeURIComponent(password)}`).toString(
            'base64',
          ),
        );
    } catch {
      // not a URL: the client says so
    }
    if (!this.enabled) return;
    const problem = trackingUriProblem(this.trackingUri);
    if (problem) {
      // Nothing could reach MLflow: unavailable, saying why; the runs it gets are counted.
      this.#uriProblem = {
        problem: `tracking URI '${maskUri(this.trackingUri)}' ${problem.reason}`,
        fix: problem.fix,
      };
      this.#detail = `unavailable: ${this.#uriProblem.problem}; ${problem.fix}`;
      return;
    }
    const clientOptions = {
      fetch: this.#watchAuth,
      trackingUri: this.trackingUri,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      timeoutMs: options.timeoutMs ?? 10_000,
      maxRetries: options.maxRetries ?? 3,
    };
    // The shutdown aborts the setup and the queued work, not a `check()` asked for later.
    this.#client = new MlflowClient({ ...clientOptions, signal: this.#abort.signal });
    this.#checkClient = new MlflowClient(clientOptions);
    this.#available = true;
    this.#detail = `${maskUri(this.trackingUri)} (checking the server)`;
    this.#settingUp = true;
    this.ready = holdWhilePending(this.#setup());
  }

  /** The original's `set_experiment`: the experiment exists afterwards (created if missing). */
  async #setup(): Promise<void> {
    try {
      this.#experimentId = await this.#client!.ensureExperiment(this.experiment);
      this.#detail = maskUri(this.trackingUri);
    } catch (error) {
      if (this.#abort.signal.aborted) return this.#setupAborted();
      this.#available = false;
      this.#setupFailed = true;
      this.#detail = `unavailable: ${this.#scrub(error).split('\n')[0]} (${maskUri(this.trackingUri)})`;
    } finally {
      this.#settingUp = false;
    }
  }

  /** Shut down before the server answered the setup. */
  #setupAborted(): void {
    this.#available = false;
    this.#setupFailed = true;
    this.#detail = `unavailable: shut down before ${maskUri(this.trackingUri)} answered`;
  }

  /**
   * An error's text for `status()`, `stats()`, `check()` or a flush error, without the sink's
   * secrets (`user:password@` becomes `[REDACTED]@`).
   */
  #scrub(text: unknown): string {
    return this.#redactor.scrub(errorText(text));
  }

  /** Every response the client gets: 401/403 start the auth pause, an accepted write ends it. */
  readonly #watchAuth: typeof fetch = async (input, init) => {
    // The sink's own requests are not the application's: no HTTP/undici span records them.
    const response = await context.with(context.active().setValue(SUPPRESS_TRACING, true), () =>
      fetch(input, init),
    );
    this.#answers++;
    if (isAuthFailure(response.status)) {
      this.#cooldown.refused(response.status);
    } else if (response.ok && (init?.method ?? 'GET').toUpperCase() !== 'GET') {
      this.#wroteOk = true;
      this.#cooldown.succeed();
      if (this.#setupFailed) {
        this.#setupFailed = false;
        this.#available = true;
        this.#detail = maskUri(this.trackingUri);
      }
    }
    return response;
  };

  status(): SinkStatus {
    const auth = this.#cooldown.detail();
    return {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      // Its parts are safe: the masked URI (`***@`), scrubbed errors, the pause.
      detail: auth ? `${this.#detail}; ${auth}` : this.#detail,
      experiment: this.experiment,
      ...(this.enabled ? this.#lossCounters() : {}),
      ...(this.#cooldown.failures > 0 ? this.#cooldown.stats() : {}),
      ...(this.#lastError ? { last_error: this.#scrub(this.#lastError) } : {}),
    };
  }

  /** What was sent, failed or lost, for `status()`. */
  #lossCounters(): Record<string, number> {
    return {
      operations: this.counters.operations,
      operations_failed: this.counters.failed,
      operations_dropped: this.counters.dropped,
      dropped_steps: this.counters.dropped_steps,
      pending_metrics: this.#pendingMetrics,
      pending_ends: this.#pendingEnds.size,
      ends_dropped: this.counters.ends_dropped,
      artifacts_skipped: this.counters.artifacts_skipped,
      evicted_runs: this.counters.evicted_runs,
      unmatched_scores: this.counters.unmatched_scores,
    };
  }

  stats(): MlflowSinkStats {
    const stats: MlflowSinkStats = {
      operations: this.counters.operations,
      failed: this.counters.failed,
      dropped: this.counters.dropped,
      dropped_steps: this.counters.dropped_steps,
      queued: this.#queue.length,
      pending_metrics: this.#pendingMetrics,
      unmatched_scores: this.counters.unmatched_scores,
      evicted_runs: this.counters.evicted_runs,
      pending_ends: this.#pendingEnds.size,
      ends_dropped: this.counters.ends_dropped,
      artifacts_skipped: this.counters.artifacts_skipped,
      ...this.#cooldown.stats(),
    };
    if (this.#lastError) stats.last_error = this.#scrub(this.#lastError);
    return stats;
  }

  /** The MLflow run id of an RLM run, once created. */
  mlflowRunId(runId: string): string | undefined {
    return (this.#runs.get(runId) ?? this.#ended.get(runId))?.mlflowRunId;
  }

  /** During an auth pause: counts the skipped event. */
  #paused(count = 1): boolean {
    return this.#cooldown.paused && this.#cooldown.skip(count);
  }

  onRunStart(runId: string, start: RunStart): void {
    if (this.#uriProblem && !this.#shutdown) this.#unsent++;
    if (!this.#client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    let s: RunStart;
    let params: Record<string, unknown>;
    try {
      s = isObject(start) ? start : ({} as RunStart);
      params = isObject(s.params) ? { ...s.params } : {};
    } catch {
      return;
    }
    const state: RunState = {
      mlflowRunId: undefined,
      artifactUri: undefined,
      broken: false,
      create: undefined,
      params: undefined,
      pendingMetrics: [],
      pendingSteps: 0,
      logged: undefined,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      evicted: false,
      tagKeys: new KeyNames(MAX_RUN_KEYS),
      metricKeys: new KeyNames(MAX_RUN_KEYS),
      createError: undefined,
      end: undefined,
      endQueued: false,
    };
    if (!this.#runs.has(id) && this.#runs.size >= this.#maxOpenRuns) this.#evictOldest();
    this.#runs.set(id, state);
    this.#ended.delete(id);
    const task = typeof s.task === 'string' ? s.task : '';
    const sessionId = typeof s.sessionId === 'string' && s.sessionId ? s.sessionId : undefined;
    const userId = typeof s.userId === 'string' && s.userId ? s.userId : undefined;
    const labels = Array.isArray(s.tags)
      ? [...new Set(s.tags.filter((t): t is string => typeof t === 'string' && t.length > 0))]
      : [];
    const environment = typeof s.environment === 'string' ? s.environment : '';
    // Captured now: the parent may end (and leave #runs) before this operation runs. A parent
    // that ended already (`rlm-obs replay` sends run after run, the parent first) is among the
    // ended runs; one this sink never saw is searched for by its `run_id` tag.
    const parentRunId =
      typeof s.parentRunId === 'string' && s.parentRunId ? s.parentRunId : undefined;
    const parentState =
      parentRunId === undefined
        ? undefined
        : (this.#runs.get(parentRunId) ?? this.#ended.get(parentRunId));
    const startMs = timeOf(s.startedAt) ?? Date.now();
    const scalar: Record<string, string> = {};
    for (const [key, value] of Object.entries(params)) {
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
        scalar[key] = paramValue(value as string | number | boolean | null);
    }
    scalar.environment = environment;
    scalar.task_chars = String(taskChars(task));
    state.params = scalar;
    state.create = async () => {
      await this.ready;
      const client = this.#client!;
      let experimentId = this.#experimentId ?? '';
      try {
        if (!this.#experimentId)
          this.#experimentId = await client.ensureExperiment(this.experiment);
        experimentId = this.#experimentId;
        // A replay finds the run it made before instead of creating a duplicate (ids with
        // characters a filter string cannot quote safely are not searched).
        const [existing] = SEARCHABLE_ID.test(id)
          ? await client.findRunsByTag(experimentId, 'run_id', id)
          : [];
        if (existing) {
          state.logged = await this.#loggedSteps(existing);
          state.mlflowRunId = existing.info.run_id;
          state.artifactUri = existing.info.artifact_uri;
          state.create = undefined;
          // Only the params the first delivery did not get there (MLflow refuses to change one),
          // under the keys it gave them.
          const have = new Set((existing.data.params ?? []).map((p) => p.key));
          const keys = new KeyNames(Number.POSITIVE_INFINITY).resolve(Object.keys(scalar));
          const missing = Object.entries(scalar)
            .map(([key, value]) => [keys.get(key)!, value] as const)
            .filter(([key]) => !have.has(key));
          state.params = missing.length > 0 ? Object.fromEntries(missing) : undefined;
          return;
        }
        const runName = id.replace(/[\u0000-\u001f]/g, '_').slice(0, 250) || 'unnamed-run';
        const tags: Record<string, string> = {
          run_id: id.replace(/\u0000/g, ''),
          component: 'rlm-code-rlm',
          'mlflow.runName': runName,
        };
        const parent =
          parentState?.mlflowRunId ??
          (parentRunId !== undefined && parentState === undefined
            ? await this.#findRun(parentRunId).catch(() => undefined)
            : undefined);
        if (parent) tags['mlflow.parentRunId'] = parent;
        // The session and labels to filter by; `mlflow.user` is the run's user in the UI.
        if (sessionId) tags['rlm.session_id'] = sessionId;
        if (userId) {
          tags['mlflow.user'] = userId;
          tags['rlm.user_id'] = userId;
        }
        if (labels.length > 0) {
          tags['rlm.tags'] = labels.join(',');
          for (const label of labels.slice(0, MAX_LABEL_TAGS)) tags[`rlm.tag.${label}`] = 'true';
        }
        const run = await client.createRun({
          experimentId,
          runName,
          startTime: startMs,
          tags,
          tagKeys: state.tagKeys,
        });
        state.mlflowRunId = run.info.run_id;
        state.artifactUri = run.info.artifact_uri;
        state.create = undefined;
      } catch (error) {
        // Refused credentials (created by its next operation after the pause) or a server
        // that is down or overloaded (network error, timeout, 429, 5xx: created by its next
        // operation): only a request MLflow rejects for good breaks the run.
        if (state.mlflowRunId) throw error;
        // An experiment deleted in MLflow: every run fails until it is restored (then the
        // run is created by its next operation), and the sink says so.
        const deleted = this.#experimentDeleted(error, experimentId);
        if (deleted) {
          state.createError = deleted.message;
          throw deleted;
        }
        if (rejectedForGood(error)) {
          state.broken = true;
          state.createError = this.#scrub(error).split('\n')[0];
        }
        throw error;
      }
    };
    // During an auth pause the run is created with its first operation after the pause.
    if (!this.#cooldown.paused) this.#enqueue(() => this.#ensureRun(state));
  }

  /**
   * The experiment was deleted in MLflow (found so, or `runs/create` refused it): the sink is
   * unavailable with that reason until a write is accepted again, and looks the experiment up
   * again for the next run (it may have been restored, or created anew).
   */
  #experimentDeleted(error: unknown, experimentId: string): ExperimentDeletedError | undefined {
    const deleted =
      error instanceof ExperimentDeletedError
        ? error
        : error instanceof MlflowError &&
            error.code === 'INVALID_PARAMETER_VALUE' &&
            /must be in the 'active' state/i.test(error.message)
          ? new ExperimentDeletedError(this.experiment, experimentId)
          : undefined;
    if (!deleted) return undefined;
    this.#experimentId = undefined;
    this.#available = false;
    this.#setupFailed = true;
    this.#detail = `unavailable: ${deleted.message} (${maskUri(this.trackingUri)})`;
    return deleted;
  }

  /**
   * The MLflow run id, creating the run first when that has not worked yet, and logging its
   * params when MLflow does not have them yet.
   */
  async #ensureRun(state: RunState): Promise<string> {
    if (!state.mlflowRunId && state.create && !state.broken) await state.create();
    if (!state.mlflowRunId)
      throw new Error(
        // The reason MLflow gave stays the sink's last error, not this run's later operations.
        `the MLflow run was never created${state.createError ? `: ${state.createError}` : ''}`,
      );
    if (state.params) await this.#logParams(state, state.mlflowRunId, state.params);
    return state.mlflowRunId;
  }

  /**
   * Logs a run's params; they stay pending for the run's next operation while MLflow cannot
   * take them. A server that cannot be reached fails the operation that carried them (its own
   * request would fail the same way; no second wait). A server that answers — busy (429, 5xx),
   * refusing the credentials, or rejecting the params for good (other 4xx, then given up) — has
   * the failure counted, and the operation goes on, so its metrics still arrive.
   */
  async #logParams(state: RunState, mlflowRunId: string, params: Record<string, string>) {
    try {
      await this.#client!.logBatch(mlflowRunId, { params });
      state.params = undefined;
    } catch (error) {
      if (!(error instanceof MlflowError)) throw error;
      if (rejectedForGood(error)) state.params = undefined;
      this.counters.failed++;
      this.#lastError = `params: ${error.message.split('\n')[0]}`;
    }
  }

  onStep(runId: string, record: StepRecord): void {
    if (!this.#client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const state = this.#runs.get(id);
    if (!state) return;
    if (this.#paused()) return;
    try {
      const r = isObject(record) ? record : ({} as StepRecord);
      const event: StepEvent = isObject(r.event) ? r.event : {};
      const step = Math.floor(num(event.step) ?? 0);
      const timestamp = timeOf(event.startedAt) ?? Date.now();
      const metrics: MlflowMetric[] = [
        { key: 'step_reward', value: num(event.reward) ?? 0, timestamp, step },
        { key: 'cumulative_reward', value: num(r.cumulativeReward) ?? 0, timestamp, step },
      ];
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
        metrics.push(
          { key: 'input_tokens', value: input, timestamp, step },
          { key: 'output_tokens', value: output, timestamp, step },
        );
        if (cost > 0) metrics.push({ key: 'cost_usd', value: cost, timestamp, step });
        state.inputTokens += input;
        state.outputTokens += output;
        state.costUsd += cost;
      }
      if (this.#pendingMetrics + metrics.length > this.#maxPendingMetrics) {
        this.counters.dropped_steps++;
        return;
      }
      const first = state.pendingMetrics.length === 0;
      state.pendingMetrics.push(...metrics);
      this.#pendingMetrics += metrics.length;
      state.pendingSteps++;
      // Steps batch up: one operation sends every metric that queued meanwhile.
      if (first)
        this.#enqueue(() => this.#sendMetrics(state), {
          events: () => state.pendingSteps,
          skip: () => this.#takePending(state),
        });
    } catch {
      // hostile input without the coordinator: nothing to record
    }
  }

  onRunEnd(runId: string, end: RunEnd): void {
    if (!this.#client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    let state = this.#runs.get(id);
    if (state) {
      this.#runs.delete(id);
      this.#rememberEnded(id, state);
    } else {
      // An evicted run's own end: its final metrics and status replace `KILLED`.
      state = this.#ended.get(id);
      if (!state?.evicted) return;
      state.evicted = false;
    }
    let result: Record<string, unknown> = {};
    let runPath: string | undefined;
    try {
      const e = isObject(end) ? end : ({} as RunEnd);
      result = isObject(e.result) ? e.result : {};
      runPath = typeof e.runPath === 'string' && e.runPath ? e.runPath : undefined;
    } catch {
      // keep the defaults
    }
    const completed = result.completed === true;
    const endMs = timeOf(result.finishedAt) ?? Date.now();
    const final: MlflowMetric[] = [
      { key: 'completed', value: completed ? 1 : 0, timestamp: endMs, step: 0 },
      { key: 'steps', value: num(result.steps) ?? 0, timestamp: endMs, step: 0 },
      { key: 'total_reward', value: num(result.totalReward) ?? 0, timestamp: endMs, step: 0 },
    ];
    if (state.inputTokens + state.outputTokens > 0) {
      final.push({
        key: 'total_input_tokens',
        value: state.inputTokens,
        timestamp: endMs,
        step: 0,
      });
      final.push({
        key: 'total_output_tokens',
        value: state.outputTokens,
        timestamp: endMs,
        step: 0,
      });
    }
    if (state.costUsd > 0)
      final.push({ key: 'total_cost_usd', value: state.costUsd, timestamp: endMs, step: 0 });
    this.#setEnd(state, {
      status: completed ? 'FINISHED' : 'FAILED',
      endMs,
      metrics: final,
      // The `rlm.evicted` tag of a `KILLED` end not sent yet still goes.
      tags: state.end?.tags,
      runPath: this.#uploadArtifacts ? runPath : undefined,
      artifacts: undefined,
      statusSent: false,
    });
  }

  /**
   * Makes a run's end pending and queues it — during an auth pause it waits for the first
   * write accepted after the pause (or a flush).
   */
  #setEnd(state: RunState, end: PendingEnd): void {
    state.end = end;
    this.#pendingEnds.delete(state);
    if (this.#pendingEnds.size >= MAX_PENDING_ENDS) {
      const oldest = this.#pendingEnds.values().next().value;
      if (oldest) this.#dropEnd(oldest, 'more than 10000 ended runs waited for MLflow');
      this.counters.ends_dropped++;
    }
    this.#pendingEnds.add(state);
    if (!this.#cooldown.paused) this.#queueEnd(state);
  }

  #queueEnd(state: RunState): void {
    if (state.endQueued) return;
    state.endQueued = true;
    const queued = this.#enqueue(
      async () => {
        state.endQueued = false;
        await this.#sendEnd(state);
      },
      {
        events: () => 0, // still pending: sent after the pause
        skip: () => {
          state.endQueued = false;
        },
      },
    );
    if (!queued) state.endQueued = false;
  }

  /** A run's end is given up (it stays RUNNING in MLflow). */
  #dropEnd(state: RunState, why: string): void {
    this.#pendingEnds.delete(state);
    state.end = undefined;
    this.#lastError = `run end not sent: ${why}`;
  }

  /**
   * Queues one operation that tries the pending ends again, in order. An end MLflow answers
   * with an error (busy, failing that run's request) is counted and the next one is tried;
   * the pass stops only when MLflow does not answer at all (down, timing out) or refuses the
   * credentials.
   */
  #retryEnds(): void {
    if (this.#endsRetryQueued || this.#pendingEnds.size === 0 || this.#cooldown.paused) return;
    // Ends queued on their own already go.
    let waiting = false;
    for (const state of this.#pendingEnds)
      if (!state.endQueued) {
        waiting = true;
        break;
      }
    if (!waiting) return;
    this.#endsRetryQueued = true;
    const queued = this.#enqueue(
      async () => {
        this.#endsRetryQueued = false;
        for (const state of [...this.#pendingEnds]) {
          if (state.endQueued || !this.#pendingEnds.has(state)) continue;
          const answers = this.#answers;
          try {
            await this.#sendEnd(state);
          } catch (error) {
            // MLflow did not answer (down, a timeout) or refused the credentials: the others
            // wait for the next try.
            const answered = error instanceof MlflowError || this.#answers !== answers;
            if (this.#pendingEnds.has(state) && (!answered || this.#cooldown.paused)) throw error;
            // MLflow answered — this run's end was refused for good, or failed and stays
            // pending: counted, the others go on.
            this.counters.failed++;
            this.#lastError = errorText(error).split('\n')[0];
          }
        }
      },
      {
        events: () => 0,
        skip: () => {
          this.#endsRetryQueued = false;
        },
      },
    );
    if (!queued) this.#endsRetryQueued = false;
  }

  /**
   * Sends what MLflow does not have yet of a run's end: its waiting step metrics, the final
   * metrics and tags, the `run_path` files, then the status. The MLflow run is ended even
   * after errors (the original's `end_run` in `except`): a part MLflow refuses for good is
   * given up (counted); one that failed because MLflow is down or busy stays pending, and goes
   * again with the next flush or once a write is accepted. The status never waits for the
   * files: it is sent whatever their uploads did, and a file that keeps failing is given up
   * after {@link MAX_ARTIFACT_ATTEMPTS} tries.
   */
  async #sendEnd(state: RunState): Promise<void> {
    const end = state.end;
    if (!end) return;
    let mlflowRunId: string;
    try {
      mlflowRunId = await this.#ensureRun(state);
    } catch (error) {
      // A run MLflow refused to create has nothing to end.
      if (state.broken && state.end === end)
        this.#dropEnd(state, 'the MLflow run was never created');
      throw error;
    }
    const client = this.#client!;
    let failure: unknown;
    const attempt = async (send: () => Promise<void>, done: () => void): Promise<void> => {
      try {
        await send();
        done();
      } catch (error) {
        // Unreachable (no answer, a timeout): the status would wait the same way, so the
        // whole end waits for the next try.
        if (!(error instanceof MlflowError)) throw error;
        failure ??= error;
        if (rejectedForGood(error)) done();
      }
    };
    await attempt(
      () => this.#sendMetrics(state),
      () => undefined,
    );
    const { metrics, tags } = end;
    if (metrics || tags)
      await attempt(
        () =>
          client.logBatch(
            mlflowRunId,
            { ...(metrics ? { metrics } : {}), ...(tags ? { tags } : {}) },
            this.#keys(state),
          ),
        () => {
          end.metrics = undefined;
          end.tags = undefined;
        },
      );
    let unanswered: Unanswered = [];
    if (end.runPath && state.artifactUri) {
      const upload = await this.#uploadDirectory(end, state.artifactUri, end.runPath);
      if (upload.failure !== undefined) failure ??= upload.failure;
      unanswered = upload.unanswered;
      const artifacts = end.artifacts;
      if (!artifacts || artifacts.uploaded.size >= artifacts.files.length) end.runPath = undefined;
    }
    const afterUpload = this.#answers;
    if (!end.statusSent) {
      try {
        await client.updateRun(mlflowRunId, end.status, end.endMs);
        end.statusSent = true;
      } catch (error) {
        if (rejectedForGood(error)) end.statusSent = true;
        failure ??= error;
      }
    } else if (unanswered.length > 0) {
      // Nothing else was asked after the files that got no answer: is MLflow there at all?
      await client.getRun(mlflowRunId).catch(() => undefined);
    }
    // MLflow answers, only not these files' uploads (timeouts): a failed try of each.
    if (unanswered.length > 0 && this.#answers !== afterUpload && end.artifacts) {
      for (const silent of unanswered)
        this.#artifactFailed(end.artifacts, silent.relative, silent.error);
      if (end.artifacts.uploaded.size >= end.artifacts.files.length) end.runPath = undefined;
    }
    const left = end.metrics || end.tags || (end.runPath && state.artifactUri);
    if (state.end === end && end.statusSent && !left) {
      this.#pendingEnds.delete(state);
      state.end = undefined;
    }
    if (failure !== undefined) throw failure;
  }

  /** Keeps an ended run for its late scores (the oldest ended run is forgotten first). */
  #rememberEnded(id: string, state: RunState): void {
    if (this.#ended.size >= MAX_ENDED_RUNS) {
      const oldest = this.#ended.keys().next().value;
      if (oldest !== undefined) this.#ended.delete(oldest);
    }
    this.#ended.set(id, state);
  }

  /**
   * Makes room under `maxOpenRuns`: the oldest open run is ended in MLflow as `KILLED`, tagged
   * `rlm.evicted`, after its waiting step metrics. Its end, if it ever comes, still finds it
   * among the ended runs and replaces `KILLED` with its own status; its later steps are ignored.
   */
  #evictOldest(): void {
    const oldest = this.#runs.keys().next().value;
    if (oldest === undefined) return;
    const state = this.#runs.get(oldest)!;
    this.#runs.delete(oldest);
    this.#rememberEnded(oldest, state);
    state.evicted = true;
    this.counters.evicted_runs++;
    this.#setEnd(state, {
      status: 'KILLED',
      endMs: Date.now(),
      metrics: undefined,
      tags: { 'rlm.evicted': 'true' },
      runPath: undefined,
      artifacts: undefined,
      statusSent: false,
    });
  }

  /**
   * A score or feedback: a metric `score.<name>` / `feedback.<name>` (booleans 1/0, at the
   * score's step), or a tag of that name for a string; the comment and the source as tags
   * `<name>.comment`, `<name>.source` (with `.step_<n>` before them for a step's string score
   * or comment). Late scores go to the finished run; scores on a run this sink never saw find
   * it by its `run_id` tag.
   */
  onScore(runId: string, score: ScoreRecord): void {
    if (!this.#client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    let metrics: MlflowMetric[];
    let tags: Record<string, string>;
    try {
      const s = isObject(score) ? score : ({} as ScoreRecord);
      // Short enough that `<name>.step_<n>.comment` stays a distinct key within MLflow's 250.
      const name = typeof s.name === 'string' ? s.name.trim().slice(0, 200) : '';
      const value = s.value;
      const numeric =
        typeof value === 'boolean'
          ? value
            ? 1
            : 0
          : typeof value === 'number' && Number.isFinite(value)
            ? value
            : undefined;
      if (!name || (numeric === undefined && typeof value !== 'string')) return;
      const step = typeof s.step === 'number' && Number.isSafeInteger(s.step) ? s.step : undefined;
      const key = `${s.kind === 'feedback' ? 'feedback' : 'score'}.${name}`;
      const base = step === undefined ? key : `${key}.step_${step}`;
      const timestamp = timeOf(s.at) ?? Date.now();
      metrics = numeric === undefined ? [] : [{ key, value: numeric, timestamp, step: step ?? 0 }];
      tags = {};
      if (typeof value === 'string') tags[base] = value;
      if (typeof s.comment === 'string' && s.comment) tags[`${base}.comment`] = s.comment;
      if (typeof s.source === 'string' && s.source && s.source !== 'rlm-obs')
        tags[`${base}.source`] = s.source;
    } catch {
      return; // hostile input without the coordinator: nothing to record
    }
    if (this.#paused()) return;
    const state = this.#runs.get(id) ?? this.#ended.get(id);
    this.#enqueue(async () => {
      const mlflowRunId = state ? await this.#ensureRun(state) : await this.#findRun(id);
      // Not an upload failure: there is no run to score (counted in `unmatched_scores`).
      if (mlflowRunId === undefined) this.counters.unmatched_scores++;
      else
        await this.#client!.logBatch(
          mlflowRunId,
          { metrics, tags },
          state ? this.#keys(state) : undefined,
        );
    });
  }

  /** The MLflow run of an RLM run this sink never saw (a score from another process). */
  async #findRun(id: string): Promise<string | undefined> {
    if (!SEARCHABLE_ID.test(id)) return undefined;
    await this.ready;
    const client = this.#client!;
    if (!this.#experimentId) this.#experimentId = await client.ensureExperiment(this.experiment);
    const [found] = await client.findRunsByTag(this.#experimentId, 'run_id', id);
    return found?.info.run_id;
  }

  /** A run's tag and metric names → MLflow keys, for `logBatch`. */
  #keys(state: RunState): { metrics: KeyNames; tags: KeyNames } {
    return { metrics: state.metricKeys, tags: state.tagKeys };
  }

  /** A run's waiting step metrics, taken out of the queue. */
  #takePending(state: RunState): MlflowMetric[] {
    const metrics = state.pendingMetrics;
    this.#pendingMetrics -= metrics.length;
    state.pendingMetrics = [];
    state.pendingSteps = 0;
    return metrics;
  }

  async #sendMetrics(state: RunState): Promise<void> {
    if (state.pendingMetrics.length === 0) return;
    let metrics = this.#takePending(state);
    const mlflowRunId = await this.#ensureRun(state);
    const logged = state.logged;
    if (logged) metrics = metrics.filter((m) => !logged.get(m.key)?.has(m.step));
    if (metrics.length > 0)
      await this.#client!.logBatch(mlflowRunId, { metrics }, this.#keys(state));
  }

  /** The steps each step metric of a found MLflow run already has. */
  async #loggedSteps(run: MlflowRun): Promise<Map<string, Set<number>>> {
    const logged = new Map<string, Set<number>>();
    const keys = new Set((run.data.metrics ?? []).map((m) => m.key));
    for (const key of STEP_METRICS) {
      if (!keys.has(key)) continue;
      const steps = new Set<number>();
      for (const point of await this.#client!.getMetricHistory(run.info.run_id, key))
        steps.add(point.step);
      logged.set(key, steps);
    }
    return logged;
  }

  /**
   * Uploads a run's `run_path` as MLflow's `log_artifact` does: a directory's whole tree under
   * its own name, a file at the top. Symbolic links are followed (a directory reached twice —
   * a link loop — is walked once). A file that cannot be uploaded — unreadable, not a regular
   * file, refused by MLflow, failing {@link MAX_ARTIFACT_ATTEMPTS} times, beyond
   * {@link MAX_ARTIFACT_FILES}, or for a run whose artifacts the tracking server does not
   * proxy — is counted (`artifacts_skipped`) and reported, never dropped silently. Files
   * already uploaded are not sent again when the end is tried again.
   *
   * Never throws: returns the failure to report, and the files that got no answer (a
   * timeout, or MLflow down) with no answer to a later request since — a failed try of theirs
   * once MLflow answers something else (see {@link #sendEnd}). Two files in a row without an
   * answer: MLflow is taken to be unreachable and the rest wait for the next try.
   */
  async #uploadDirectory(
    end: PendingEnd,
    artifactUri: string,
    root: string,
  ): Promise<{ failure?: unknown; unanswered: Unanswered }> {
    if (!end.artifacts) {
      let files: ArtifactFile[] | undefined;
      try {
        files = await this.#artifactFiles(root);
      } catch (error) {
        this.#skipArtifacts(1, `${path.basename(root)}: ${errorCode(error)}`);
        files = [];
      }
      if (!files) return { unanswered: [] }; // the original uploads only when run_path exists
      end.artifacts = { files, uploaded: new Set(), failures: new Map() };
    }
    const artifacts = end.artifacts;
    const { files, uploaded } = artifacts;
    // The artifact proxy serves `mlflow-artifacts:` only. A run whose artifacts go elsewhere
    // (a server run with --no-serve-artifacts stores a path or s3://… there, for the client to
    // write itself) would get files it never shows, or 503 for good: counted, not tried.
    if (!/^mlflow-artifacts:/i.test(artifactUri)) {
      const left = files.filter((f) => !uploaded.has(f.relative));
      for (const { relative } of left) uploaded.add(relative);
      if (left.length > 0)
        this.#skipArtifacts(
          left.length,
          `the tracking server does not proxy artifacts (artifact_uri ${artifactStore(artifactUri)}); run it with --serve-artifacts`,
        );
      return { unanswered: [] };
    }
    let failure: unknown;
    let unanswered: Unanswered = [];
    // Once MLflow failed a file, the others of this try get one request each (no retries):
    // a server failing every upload does not take files × retries × backoff per flush.
    let retries: number | undefined;
    for (const { file, relative } of files) {
      if (uploaded.has(relative)) continue;
      let bytes: Buffer;
      try {
        bytes = await fsp.readFile(file);
      } catch (error) {
        this.#skipArtifacts(1, `${relative}: ${errorCode(error)}`);
        uploaded.add(relative);
        continue;
      }
      const answers = this.#answers;
      try {
        await this.#client!.uploadArtifact(artifactUri, relative, bytes, retries);
        uploaded.add(relative);
      } catch (error) {
        if (!rejectedForGood(error)) failure ??= error;
        if (rejectedForGood(error)) {
          this.#skipArtifacts(1, `${relative}: ${this.#scrub(error).split('\n')[0]}`);
          uploaded.add(relative);
        } else if (error instanceof MlflowError && isAuthFailure(error.status)) {
          // Refused credentials: the rest waits for the pause to end (not a failed try).
          return { failure, unanswered };
        } else if (error instanceof MlflowError) {
          // MLflow answered with an error (busy, failing): a failed try; the others go on.
          this.#artifactFailed(artifacts, relative, error);
          retries = 0;
        } else {
          // No answer: a timeout of this file, or MLflow down. The next file tells which.
          unanswered.push({ relative, error });
          retries = 0;
          if (unanswered.length >= 2) return { failure, unanswered };
          continue;
        }
      }
      if (this.#answers !== answers) {
        // MLflow answers: the files before that got none failed a try of their own.
        for (const silent of unanswered)
          this.#artifactFailed(artifacts, silent.relative, silent.error);
        unanswered = [];
      }
    }
    return { failure, unanswered };
  }

  /** A failed upload of one file; given up (counted, reported) after the last allowed try. */
  #artifactFailed(
    artifacts: NonNullable<PendingEnd['artifacts']>,
    relative: string,
    error: unknown,
  ): void {
    const failures = (artifacts.failures.get(relative) ?? 0) + 1;
    if (failures < MAX_ARTIFACT_ATTEMPTS) {
      artifacts.failures.set(relative, failures);
      return;
    }
    artifacts.failures.delete(relative);
    artifacts.uploaded.add(relative);
    this.#skipArtifacts(
      1,
      `${relative}: ${this.#scrub(error).split('\n')[0]}, given up after ${failures} tries`,
    );
  }

  /** The files under `root` with their artifact paths; `undefined` when it does not exist. */
  async #artifactFiles(root: string): Promise<ArtifactFile[] | undefined> {
    let stat: Awaited<ReturnType<typeof fsp.stat>>;
    try {
      stat = await fsp.stat(root);
    } catch {
      return undefined;
    }
    const base = path.dirname(root);
    const relative = (file: string) => path.relative(base, file).split(path.sep).join('/');
    if (!stat.isDirectory()) {
      if (stat.isFile()) return [{ file: root, relative: relative(root) }];
      this.#skipArtifacts(1, `${path.basename(root)}: not a regular file`);
      return [];
    }
    const files: ArtifactFile[] = [];
    let skipped = 0;
    let why: string | undefined;
    const skip = (file: string, reason: string) => {
      skipped++;
      why ??= `${relative(file)}: ${reason}`;
    };
    const add = (file: string) => {
      if (files.length < MAX_ARTIFACT_FILES) files.push({ file, relative: relative(file) });
      else skip(file, `more than ${MAX_ARTIFACT_FILES} files`);
    };
    // Directories by device and inode: one reached twice (a bind mount) is walked once.
    const seen = new Set<string>([`${stat.dev}:${stat.ino}`]);
    const pending = [root];
    while (pending.length > 0) {
      const dir = pending.pop()!;
      let entries: Array<import('node:fs').Dirent>;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (error) {
        skip(dir, `cannot read the directory (${errorCode(error)})`);
        continue;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const subdirs: string[] = [];
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isFile()) add(full);
        else if (entry.isDirectory()) {
          const target = await fsp.stat(full).catch(() => undefined);
          const key = target ? `${target.dev}:${target.ino}` : full;
          if (seen.has(key)) continue;
          seen.add(key);
          subdirs.push(full);
        } else if (entry.isSymbolicLink()) {
          // A linked file is uploaded (its content); a linked directory is not walked, as
          // MLflow's log_artifacts (os.walk) does not: it may lead anywhere (`/`, a loop).
          let target: Awaited<ReturnType<typeof fsp.stat>>;
          try {
            target = await fsp.stat(full); // follows the link
          } catch (error) {
            skip(full, `broken link (${errorCode(error)})`);
            continue;
          }
          if (target.isFile()) add(full);
          else if (target.isDirectory()) skip(full, 'a link to a directory (not followed)');
          else skip(full, 'not a regular file');
        } else skip(full, 'not a regular file');
      }
      // Depth first, in name order.
      for (let k = subdirs.length - 1; k >= 0; k--) pending.push(subdirs[k]!);
    }
    if (skipped > 0) this.#skipArtifacts(skipped, why!);
    return files;
  }

  /** Counts artifact files not uploaded; the flush and `last_error` say which and why. */
  #skipArtifacts(count: number, why: string): void {
    this.counters.artifacts_skipped += count;
    this.#lastArtifactSkip = why;
    this.#lastError = `artifacts: ${count} file${count === 1 ? '' : 's'} of run_path not uploaded (${why})`;
  }

  /** Queues an operation; `false` when the queue is full (the operation is dropped, counted). */
  #enqueue(
    run: () => Promise<unknown>,
    options: { events?: () => number; skip?: () => void } = {},
  ): boolean {
    if (this.#queue.length >= this.#maxQueue) {
      this.counters.dropped++;
      return false;
    }
    this.#queue.push({
      run: async () => {
        await run();
      },
      events: options.events ?? (() => 1),
      ...(options.skip ? { skip: options.skip } : {}),
    });
    if (!this.#working) this.#working = this.#work();
    return true;
  }

  async #work(): Promise<void> {
    while (this.#queue.length > 0) {
      const operation = this.#queue.shift()!;
      // Queued before the pause began: skipped and counted, not sent.
      if (this.#cooldown.paused) {
        this.#cooldown.skip(operation.events());
        operation.skip?.();
        continue;
      }
      this.counters.operations++;
      try {
        await operation.run();
      } catch (error) {
        this.counters.failed++;
        this.#lastError = error instanceof Error ? error.message.split('\n')[0] : String(error);
      }
      // MLflow took a write: the ends that waited for it go again.
      if (this.#wroteOk) {
        this.#wroteOk = false;
        this.#retryEnds();
      }
    }
    this.#working = undefined;
    const waiters = this.#idle;
    this.#idle = [];
    for (const resolve of waiters) resolve();
  }

  /** `rlm-obs doctor`: the server answers and the experiment is reachable. */
  check(): Promise<SinkCheckResult> {
    // Held: the client's retries back off on unref'ed timers; `rlm-obs doctor` awaiting only
    // this ended with exit code 13 (an unsettled await) while MLflow was down.
    return holdWhilePending(this.#check());
  }

  async #check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    if (this.#uriProblem)
      return { ok: false, detail: maskUri(this.trackingUri), problems: [this.#uriProblem] };
    await this.ready;
    const auth = this.#cooldown.detail();
    if (auth)
      return {
        ok: false,
        detail: maskUri(this.trackingUri),
        problems: [
          {
            problem: `${maskUri(this.trackingUri)} refuses the credentials: ${auth}`,
            fix: 'set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) to credentials with write access to the experiment; the sink resumes by itself after the pause',
          },
        ],
      };
    try {
      await this.ready;
      const id = await this.#checkClient!.ensureExperiment(this.experiment);
      return {
        ok: true,
        problems: [],
        detail: `${maskUri(this.trackingUri)} experiment ${this.experiment} (${id})`,
      };
    } catch (error) {
      const message = this.#scrub(error).split('\n')[0]!;
      if (error instanceof ExperimentDeletedError) {
        this.#experimentDeleted(error, error.experimentId);
        return {
          ok: false,
          detail: maskUri(this.trackingUri),
          problems: [
            {
              problem: `${maskUri(this.trackingUri)}: ${message}`,
              fix: `restore it (the MLflow UI's trash, or \`mlflow experiments restore --experiment-id ${error.experimentId}\`), or set another experiment (the \`experiment\` option or DSPY_RLM_MLFLOW_EXPERIMENT)`,
            },
          ],
        };
      }
      const auth = /\b(401|403)\b|UNAUTHENTICATED|PERMISSION_DENIED/i.test(message);
      return {
        ok: false,
        detail: maskUri(this.trackingUri),
        problems: [
          {
            problem: `${maskUri(this.trackingUri)}: ${message}`,
            fix: auth
              ? 'set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)'
              : 'start the tracking server (mlflow server --host 127.0.0.1 --port 5000) or set MLFLOW_TRACKING_URI',
          },
        ],
      };
    }
  }

  /** Sends every queued operation; rejects when operations failed since the last flush. */
  forceFlush(options?: SinkFinishOptions): Promise<void> {
    return holdWhilePending(this.#flush(), options?.timeoutMs);
  }

  async #flush(): Promise<void> {
    const before = this.counters.failed;
    this.#retryEnds();
    if (this.#working) await new Promise<void>((resolve) => this.#idle.push(resolve));
    const failed = this.counters.failed - before;
    const skipped = this.#cooldown.takeSkipped();
    const droppedSteps = this.counters.dropped_steps - this.#droppedStepsReported;
    this.#droppedStepsReported = this.counters.dropped_steps;
    const problems: string[] = [];
    const unsent = this.#unsent - this.#unsentReported;
    this.#unsentReported = this.#unsent;
    if (unsent > 0 && this.#uriProblem)
      problems.push(`${unsent} runs not sent: ${this.#uriProblem.problem}`);
    if (failed > 0)
      problems.push(
        `${failed} MLflow operations failed (${this.#lastError ? this.#scrub(this.#lastError) : 'unknown error'})`,
      );
    if (skipped > 0)
      problems.push(`${skipped} events not sent: paused after MLflow refused the credentials`);
    if (droppedSteps > 0)
      problems.push(
        `${droppedSteps} steps' metrics dropped: more than ${this.#maxPendingMetrics} waited for MLflow`,
      );
    const artifactsSkipped = this.counters.artifacts_skipped - this.#artifactsSkippedReported;
    this.#artifactsSkippedReported = this.counters.artifacts_skipped;
    if (artifactsSkipped > 0)
      problems.push(
        `${artifactsSkipped} artifact files not uploaded (${this.#scrub(this.#lastArtifactSkip ?? 'unknown')})`,
      );
    if (this.#pendingEnds.size > 0)
      problems.push(
        `${this.#pendingEnds.size} runs' ends not sent yet (final metrics, artifacts or status): sent again by the next flush or once MLflow takes a write`,
      );
    const endsDropped = this.counters.ends_dropped - this.#endsDroppedReported;
    this.#endsDroppedReported = this.counters.ends_dropped;
    if (endsDropped > 0)
      problems.push(
        `${endsDropped} runs' ends given up: more than ${MAX_PENDING_ENDS} waited for MLflow`,
      );
    if (problems.length > 0) throw new Error(problems.join('; '));
  }

  /**
   * Flushes, then aborts what is still under way (setup included): a server that accepts
   * connections and never answers does not keep the process alive past the shutdown.
   */
  shutdown(options?: SinkFinishOptions): Promise<void> {
    this.#shutdown ??= this.forceFlush(options).finally(() => {
      this.#abort.abort(new Error('the MLflow sink was shut down'));
      if (this.#settingUp) this.#setupAborted();
    });
    return this.#shutdown;
  }
}
