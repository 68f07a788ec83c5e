/**
 * `mlflow`: the Python original's MLflowSink over the REST client — one MLflow run per RLM
 * run (named by the run id), params, per-step metrics, end metrics, the `run_path` directory
 * as artifacts, status FINISHED or FAILED — plus nested runs as MLflow child runs, LLM token
 * and cost metrics, and replays that find the existing MLflow run by its `run_id` tag.
 *
 * Hooks only queue operations; one worker sends them in order, so the caller never waits on
 * MLflow, and a server that goes away costs counted failures, not a blocked agent.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  isRecord as isObject,
  finiteNumber as num,
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  SINK_SPECIFICATION_VERSION,
  type SinkCheckResult,
  type SinkStatus,
  type StepEvent,
  type StepRecord,
  stepUsages,
  epochMs as timeOf,
} from '@rlm/obs-core';
import { MlflowClient, type MlflowMetric } from './mlflow-client.js';

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
  /** Upload the run's `run_path` directory as artifacts. @defaultValue `true` */
  uploadArtifacts?: boolean;
  /** @defaultValue `'mlflow'` */
  name?: string;
}

interface RunState {
  mlflowRunId: string | undefined;
  artifactUri: string | undefined;
  /** The run could not be created: its later operations count as failed. */
  broken: boolean;
  pendingMetrics: MlflowMetric[];
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

type Operation = () => Promise<void>;

/** Run ids that can be quoted in an MLflow filter string as they are. */
const SEARCHABLE_ID = /^[\w .:/@+-]{1,250}$/;

/** The tracking URI with credentials removed: safe for `detail`. */
export function maskUri(uri: string): string {
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
  readonly counters = { operations: 0, failed: 0, dropped: 0, requests_retried: 0 };

  readonly #client: MlflowClient | undefined;
  readonly #maxQueue: number;
  readonly #uploadArtifacts: boolean;
  #experimentId: string | undefined;
  #available = false;
  #detail: string;
  #lastError: string | undefined;
  #queue: Operation[] = [];
  #working: Promise<void> | undefined;
  #runs = new Map<string, RunState>();
  #shutdown: Promise<void> | undefined;
  #idle: Array<() => void> = [];

  constructor(options: MlflowSinkOptions = {}) {
    this.name = options.name ?? 'mlflow';
    this.enabled = options.enabled !== false;
    this.experiment = options.experiment ?? 'rlm-code-rlm';
    this.trackingUri = (options.trackingUri ?? 'http://localhost:5000').replace(/\/+$/, '');
    this.#maxQueue = Math.max(1, options.maxQueueSize ?? 10_000);
    this.#uploadArtifacts = options.uploadArtifacts !== false;
    this.#detail = this.enabled ? maskUri(this.trackingUri) : 'disabled';
    this.ready = Promise.resolve();
    if (!this.enabled) return;
    this.#client = new MlflowClient({
      trackingUri: this.trackingUri,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      timeoutMs: options.timeoutMs ?? 10_000,
      maxRetries: options.maxRetries ?? 3,
    });
    this.#available = true;
    this.ready = this.#setup();
  }

  /** The original's `set_experiment`: the experiment exists afterwards (created if missing). */
  async #setup(): Promise<void> {
    try {
      this.#experimentId = await this.#client!.ensureExperiment(this.experiment);
    } catch (error) {
      this.#available = false;
      this.#detail = `unavailable: ${error instanceof Error ? error.message.split('\n')[0] : String(error)} (${maskUri(this.trackingUri)})`;
    }
  }

  status(): SinkStatus {
    return {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      detail: this.#detail,
      experiment: this.experiment,
    };
  }

  stats(): {
    operations: number;
    failed: number;
    dropped: number;
    queued: number;
    last_error?: string;
  } {
    const stats: {
      operations: number;
      failed: number;
      dropped: number;
      queued: number;
      last_error?: string;
    } = {
      operations: this.counters.operations,
      failed: this.counters.failed,
      dropped: this.counters.dropped,
      queued: this.#queue.length,
    };
    if (this.#lastError) stats.last_error = this.#lastError;
    return stats;
  }

  /** The MLflow run id of an RLM run, once created. */
  mlflowRunId(runId: string): string | undefined {
    return this.#runs.get(runId)?.mlflowRunId;
  }

  onRunStart(runId: string, start: RunStart): void {
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
      pendingMetrics: [],
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
    };
    this.#runs.set(id, state);
    const task = typeof s.task === 'string' ? s.task : '';
    const environment = typeof s.environment === 'string' ? s.environment : '';
    // Captured now: the parent may end (and leave #runs) before this operation runs.
    const parentState =
      typeof s.parentRunId === 'string' ? this.#runs.get(s.parentRunId) : undefined;
    const startMs = timeOf(s.startedAt) ?? Date.now();
    this.#enqueue(async () => {
      await this.ready;
      const client = this.#client!;
      if (!this.#experimentId) this.#experimentId = await client.ensureExperiment(this.experiment);
      const experimentId = this.#experimentId;
      try {
        // A replay finds the run it made before instead of creating a duplicate (ids with
        // characters a filter string cannot quote safely are not searched).
        const [existing] = SEARCHABLE_ID.test(id)
          ? await client.findRunsByTag(experimentId, 'run_id', id)
          : [];
        if (existing) {
          state.mlflowRunId = existing.info.run_id;
          state.artifactUri = existing.info.artifact_uri;
          return;
        }
        const runName = id.replace(/[\u0000-\u001f]/g, '_').slice(0, 250) || 'unnamed-run';
        const tags: Record<string, string> = {
          run_id: id.replace(/\u0000/g, ''),
          component: 'rlm-code-rlm',
          'mlflow.runName': runName,
        };
        const parent = parentState?.mlflowRunId;
        if (parent) tags['mlflow.parentRunId'] = parent;
        const run = await client.createRun({ experimentId, runName, startTime: startMs, tags });
        state.mlflowRunId = run.info.run_id;
        state.artifactUri = run.info.artifact_uri;
        const scalar: Record<string, string> = {};
        for (const [key, value] of Object.entries(params)) {
          if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
            scalar[key] = String(value);
        }
        scalar.environment = environment;
        scalar.task_chars = String(task.length);
        await client.logBatch(run.info.run_id, { params: scalar });
      } catch (error) {
        if (!state.mlflowRunId) state.broken = true;
        throw error;
      }
    });
  }

  onStep(runId: string, record: StepRecord): void {
    if (!this.#client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const state = this.#runs.get(id);
    if (!state) return;
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
      const first = state.pendingMetrics.length === 0;
      state.pendingMetrics.push(...metrics);
      // Steps batch up: one operation sends every metric that queued meanwhile.
      if (first) this.#enqueue(() => this.#sendMetrics(state));
    } catch {
      // hostile input without the coordinator: nothing to record
    }
  }

  onRunEnd(runId: string, end: RunEnd): void {
    if (!this.#client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const state = this.#runs.get(id);
    if (!state) return;
    this.#runs.delete(id);
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
    this.#enqueue(async () => {
      if (!state.mlflowRunId) throw new Error('the MLflow run was never created');
      const client = this.#client!;
      try {
        await this.#sendMetrics(state);
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
        await client.logBatch(state.mlflowRunId, { metrics: final });
        if (this.#uploadArtifacts && runPath && state.artifactUri)
          await this.#uploadDirectory(state.artifactUri, runPath);
      } finally {
        // The MLflow run is ended even after errors (the original's end_run in except).
        await client.updateRun(state.mlflowRunId, completed ? 'FINISHED' : 'FAILED', endMs);
      }
    });
  }

  async #sendMetrics(state: RunState): Promise<void> {
    if (state.pendingMetrics.length === 0) return;
    if (!state.mlflowRunId) {
      state.pendingMetrics = [];
      throw new Error('the MLflow run was never created');
    }
    const metrics = state.pendingMetrics;
    state.pendingMetrics = [];
    await this.#client!.logBatch(state.mlflowRunId, { metrics });
  }

  async #uploadDirectory(artifactUri: string, root: string): Promise<void> {
    let stat: Awaited<ReturnType<typeof fsp.stat>>;
    try {
      stat = await fsp.stat(root);
    } catch {
      return; // the original uploads only when run_path exists
    }
    const files: string[] = [];
    if (stat.isFile()) files.push(root);
    else {
      const walk = async (dir: string, depth: number): Promise<void> => {
        if (depth > 8 || files.length >= 1000) return;
        for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
          const full = path.join(dir, entry.name);
          if (entry.isDirectory()) await walk(full, depth + 1);
          else if (entry.isFile()) files.push(full);
        }
      };
      await walk(root, 0);
    }
    // Like mlflow.log_artifact: a directory lands under its own name, a file at the top.
    const base = path.dirname(root);
    for (const file of files) {
      const relative = path.relative(base, file).split(path.sep).join('/');
      await this.#client!.uploadArtifact(artifactUri, relative, await fsp.readFile(file));
    }
  }

  #enqueue(operation: Operation): void {
    if (this.#queue.length >= this.#maxQueue) {
      this.counters.dropped++;
      return;
    }
    this.#queue.push(operation);
    if (!this.#working) this.#working = this.#work();
  }

  async #work(): Promise<void> {
    while (this.#queue.length > 0) {
      const operation = this.#queue.shift()!;
      this.counters.operations++;
      try {
        await operation();
      } catch (error) {
        this.counters.failed++;
        this.#lastError = error instanceof Error ? error.message.split('\n')[0] : String(error);
      }
    }
    this.#working = undefined;
    const waiters = this.#idle;
    this.#idle = [];
    for (const resolve of waiters) resolve();
  }

  /** `rlm-obs doctor`: the server answers and the experiment is reachable. */
  async check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    try {
      await this.ready;
      const id = await this.#client!.ensureExperiment(this.experiment);
      return {
        ok: true,
        problems: [],
        detail: `${maskUri(this.trackingUri)} experiment ${this.experiment} (${id})`,
      };
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
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
  async forceFlush(): Promise<void> {
    const before = this.counters.failed;
    if (this.#working) await new Promise<void>((resolve) => this.#idle.push(resolve));
    const failed = this.counters.failed - before;
    if (failed > 0)
      throw new Error(`${failed} MLflow operations failed (${this.#lastError ?? 'unknown error'})`);
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.forceFlush();
    return this.#shutdown;
  }
}
