/**
 * `langsmith`: the Python original's LangSmithSink through the official `langsmith` client —
 * a root run `rlm-run-<first 8 of id>` (chain) per RLM run in the project, a `step-<n>`
 * (tool) child run per step with inputs, outputs and error, outputs on end — plus nested runs
 * as child runs, LLM usage as `llm` child runs, and deterministic ids so replays don't
 * duplicate.
 */
import { createHash } from 'node:crypto';
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
  safeUrl,
  stepUsages,
  stringValue as str,
  epochMs as timeOf,
  truncate,
} from '@rlm/obs-core';
import { Client } from 'langsmith';
import { RunTree } from 'langsmith/run_trees';

/** Options of the `langsmith` sink. */
export interface LangSmithSinkOptions {
  /** @defaultValue `true` (env `DSPY_RLM_LANGSMITH_ENABLED` with `createLangSmithSinkFromEnv`) */
  enabled?: boolean;
  /** env `LANGSMITH_API_KEY` or `LANGCHAIN_API_KEY` */
  apiKey?: string;
  /** @defaultValue `https://api.smith.langchain.com` (env `LANGSMITH_ENDPOINT`) */
  apiUrl?: string;
  /** @defaultValue `'rlm-code'` (env `LANGSMITH_PROJECT` or `LANGCHAIN_PROJECT`) */
  projectName?: string;
  /** List projects at setup (the original does): failure gives `available: false`. @defaultValue `true` */
  connectionCheck?: boolean;
  /** The client's memory bound for queued uploads. @defaultValue 64 MiB */
  maxIngestMemoryBytes?: number;
  /** Per-request timeout. @defaultValue `10000` */
  timeoutMs?: number;
  /** Retries per request on 429, 5xx and network errors (with backoff). @defaultValue `3` */
  maxRetries?: number;
  /** @defaultValue `'langsmith'` */
  name?: string;
}

const TEXT_LIMIT = 500;
const MAX_OPEN_RUNS = 10_000;
const CHECK_TIMEOUT_MS = 5_000;
/** A LangSmith dotted order: `<stamp>Z<uuid>` segments joined by dots. */
const DOTTED = /^(\d{8}T\d{12}Z[0-9a-f-]{36})(\.\d{8}T\d{12}Z[0-9a-f-]{36})*$/;

/** `YYYYMMDDTHHMMSSffffffZ`, the time part of a dotted-order segment. */
function dottedStamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-22T00:51:01.478Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}${iso.slice(20, 23)}000Z`;
}

/**
 * A UUID v7-shaped id derived from the run id (and a step): the run's start time in the
 * first 48 bits, a hash in the rest — the same on every replay of the run.
 */
export function langsmithRunId(runId: string, startMs: number, part?: string | number): string {
  const bytes = createHash('sha256')
    .update(`rlm-obs:langsmith:${runId}:${part ?? 'run'}`)
    .digest();
  const ms = BigInt(Math.max(0, Math.floor(startMs)));
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

interface OpenRun {
  tree: RunTree;
  startMs: number;
  lastStepEnd: number;
}

/** Counts what the client's uploads did, through its `fetchImplementation`. */
class CountingFetch {
  requests = 0;
  failures = 0;
  lastError: string | undefined;
  readonly fetch: typeof fetch = async (input, init) => {
    this.requests++;
    try {
      const response = await fetch(input, init);
      if (!response.ok && response.status !== 404) {
        this.failures++;
        this.lastError = `HTTP ${response.status} from ${safeUrl(String(input instanceof Request ? input.url : input))}`;
      }
      return response;
    } catch (error) {
      this.failures++;
      this.lastError = error instanceof Error ? error.message : String(error);
      throw error;
    }
  };
}

/** The `langsmith` sink. */
export class LangSmithSink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  readonly enabled: boolean;
  readonly projectName: string;
  readonly apiUrl: string;
  /** Resolves when the setup (and the connection check) is done. */
  readonly ready: Promise<void>;

  #client: Client | undefined;
  #fetch = new CountingFetch();
  #available = false;
  #detail: string;
  #runs = new Map<string, OpenRun>();
  #hookErrors = 0;
  #lastHookError: string | undefined;
  #pending = new Set<Promise<unknown>>();
  #shutdown: Promise<void> | undefined;

  constructor(options: LangSmithSinkOptions = {}) {
    this.name = options.name ?? 'langsmith';
    this.enabled = options.enabled !== false;
    this.projectName = options.projectName ?? 'rlm-code';
    this.apiUrl = (options.apiUrl ?? 'https://api.smith.langchain.com').replace(/\/+$/, '');
    this.#detail = 'disabled';
    this.ready = Promise.resolve();
    if (!this.enabled) return;
    if (!options.apiKey) {
      this.#detail = 'unavailable: set LANGSMITH_API_KEY (or LANGCHAIN_API_KEY)';
      return;
    }
    try {
      this.#client = new Client({
        apiUrl: this.apiUrl,
        apiKey: options.apiKey,
        autoBatchTracing: true,
        // A deliberate bound: uploads held while LangSmith is slow or down.
        maxIngestMemoryBytes: options.maxIngestMemoryBytes ?? 64 * 1024 * 1024,
        timeout_ms: options.timeoutMs ?? 10_000,
        // Retries are bounded, so a long outage costs failed uploads, not an endless queue.
        callerOptions: { maxRetries: options.maxRetries ?? 3 },
        fetchImplementation: this.#fetch.fetch,
        preferProfileAuth: false,
      });
      this.#available = true;
      this.#detail = `${safeUrl(this.apiUrl)} project: ${this.projectName}`;
      if (options.connectionCheck !== false) this.ready = this.#connectionCheck();
    } catch (error) {
      this.#detail = `setup failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  async #connectionCheck(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const list = (async () => {
        for await (const _project of this.#client!.listProjects({ nameContains: this.projectName }))
          break;
      })();
      // The client retries unreachable hosts for a long while; setup should not wait that long.
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 5 s')), CHECK_TIMEOUT_MS);
      });
      await Promise.race([list, timeout]);
    } catch (error) {
      this.#available = false;
      const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      const refused = /\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(message);
      this.#detail = refused
        ? `unavailable: the API key was refused by ${safeUrl(this.apiUrl)}`
        : `unavailable: cannot reach ${safeUrl(this.apiUrl)}: ${message}`;
    } finally {
      clearTimeout(timer);
    }
  }

  status(): SinkStatus {
    return {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      detail: this.#detail,
      project_name: this.projectName,
    };
  }

  /** Upload counters. */
  stats(): {
    requests: number;
    failed_requests: number;
    bad_events: number;
    open_runs: number;
    last_error?: string;
  } {
    const stats: {
      requests: number;
      failed_requests: number;
      bad_events: number;
      open_runs: number;
      last_error?: string;
    } = {
      requests: this.#fetch.requests,
      failed_requests: this.#fetch.failures,
      bad_events: this.#hookErrors,
      open_runs: this.#runs.size,
    };
    const lastError = this.#fetch.lastError ?? this.#lastHookError;
    if (lastError) stats.last_error = lastError;
    return stats;
  }

  /**
   * LangSmith's distributed-tracing headers for a run (`langsmith-trace`, `baggage`), to
   * continue it in another process: pass them as the child run's
   * `attributes: { 'langsmith.headers': headers }`.
   */
  headers(runId: string): Record<string, string> | undefined {
    const run = this.#runs.get(runId);
    return run ? (run.tree.toHeaders() as unknown as Record<string, string>) : undefined;
  }

  onRunStart(runId: string, start: RunStart): void {
    this.#guard(() => this.#onRunStart(runId, start));
  }

  onStep(runId: string, record: StepRecord): void {
    this.#guard(() => this.#onStep(runId, record));
  }

  onRunEnd(runId: string, end: RunEnd): void {
    this.#guard(() => this.#onRunEnd(runId, end));
  }

  #track(promise: Promise<unknown>): void {
    const p = promise.catch((error: unknown) => {
      this.#fetch.failures++;
      this.#fetch.lastError = error instanceof Error ? error.message : String(error);
    });
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  #onRunStart(runId: string, start: RunStart): void {
    const client = this.#client;
    if (!client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const s = isObject(start) ? start : ({} as RunStart);
    const startMs = timeOf(s.startedAt) ?? Date.now();
    const environment = str(s.environment) ?? '';
    const attributes = isObject(s.attributes) ? s.attributes : {};
    const config = {
      name: `rlm-run-${id.slice(0, 8)}`,
      run_type: 'chain',
      id: langsmithRunId(id, startMs),
      inputs: { task: str(s.task) ?? '', environment, params: isObject(s.params) ? s.params : {} },
      metadata: { run_id: id, environment, ...attributes },
      tags: ['rlm', environment].filter(Boolean),
      start_time: startMs,
      project_name: this.projectName,
      client,
      tracingEnabled: true,
    };
    const parent = typeof s.parentRunId === 'string' ? this.#runs.get(s.parentRunId) : undefined;
    const remote = isObject(attributes['langsmith.headers'])
      ? (attributes['langsmith.headers'] as Record<string, string>)
      : undefined;
    let tree: RunTree;
    if (parent) tree = parent.tree.createChild(config);
    else if (
      remote &&
      typeof remote['langsmith-trace'] === 'string' &&
      DOTTED.test(remote['langsmith-trace'])
    ) {
      // A parent in another process: continue its dotted order. (RunTree.fromHeaders(…)
      // .createChild() would post through a default client read from the environment.)
      const parentDotted = remote['langsmith-trace'];
      const segments = parentDotted.split('.');
      const traceId = segments[0]!.slice(-36);
      const parentId = segments.at(-1)!.slice(-36);
      tree = new RunTree({
        ...config,
        parent_run_id: parentId,
        trace_id: traceId,
        dotted_order: `${parentDotted}.${dottedStamp(startMs)}${config.id}`,
      });
    } else tree = new RunTree(config);
    if (this.#runs.size >= MAX_OPEN_RUNS) {
      const oldest = this.#runs.keys().next().value;
      if (oldest !== undefined) this.#runs.delete(oldest);
    }
    this.#runs.set(id, { tree, startMs, lastStepEnd: startMs });
    // Posted now, so a long run shows up live; its end is a patch.
    this.#track(tree.postRun());
  }

  #onStep(runId: string, record: StepRecord): void {
    if (!this.#client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const run = this.#runs.get(id);
    if (!run) return;
    const r = isObject(record) ? record : ({} as StepRecord);
    const event: StepEvent = isObject(r.event) ? r.event : {};
    const action = isObject(event.action) ? event.action : {};
    const observation = isObject(event.observation) ? event.observation : {};
    const step = num(event.step) ?? 0;
    const duration = num(event.durationMs);
    const startMs = timeOf(event.startedAt) ?? run.lastStepEnd;
    const endMs =
      duration !== undefined ? startMs + Math.max(0, duration) : Math.max(startMs, Date.now());
    const inputs: Record<string, unknown> = { action: str(action.action) ?? 'unknown' };
    const code = str(action.code);
    if (code) inputs.code = truncate(code, TEXT_LIMIT);
    const outputs: Record<string, unknown> = {
      success: observation.success === true,
      reward: num(event.reward) ?? 0,
      cumulative_reward: num(r.cumulativeReward) ?? 0,
    };
    const out = str(observation.output);
    if (out) outputs.output = truncate(out, TEXT_LIMIT);
    const failed = observation.success !== true;
    const child = run.tree.createChild({
      name: `step-${step}`,
      run_type: 'tool',
      id: langsmithRunId(id, run.startMs, step),
      inputs,
      start_time: startMs,
      ...(isObject(event.attributes) ? { metadata: event.attributes } : {}),
    });
    stepUsages(event).forEach((usage, i) => {
      const llm = child.createChild({
        name: usage.model ?? 'llm',
        run_type: 'llm',
        id: langsmithRunId(id, run.startMs, `${step}:llm:${i}`),
        inputs: {},
        start_time: startMs,
        metadata: {
          ...(usage.model ? { ls_model_name: usage.model } : {}),
          ...(usage.provider ? { ls_provider: usage.provider } : {}),
          ...(usage.costUsd !== undefined ? { cost_usd: usage.costUsd } : {}),
          usage_metadata: {
            input_tokens: usage.inputTokens,
            output_tokens: usage.outputTokens,
            total_tokens: usage.totalTokens,
          },
        },
      });
      this.#track(
        llm
          .end(
            {
              usage_metadata: {
                input_tokens: usage.inputTokens,
                output_tokens: usage.outputTokens,
                total_tokens: usage.totalTokens,
              },
            },
            undefined,
            endMs,
          )
          .then(() => llm.postRun()),
      );
    });
    // Ended before it is posted: one create with inputs, outputs and error.
    this.#track(
      child
        .end(outputs, failed ? (str(observation.error) ?? 'step failed') : undefined, endMs)
        .then(() => child.postRun()),
    );
    run.lastStepEnd = endMs;
  }

  #onRunEnd(runId: string, end: RunEnd): void {
    if (!this.#client || this.#shutdown) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const run = this.#runs.get(id);
    if (!run) return;
    this.#runs.delete(id);
    const e = isObject(end) ? end : ({} as RunEnd);
    const result = isObject(e.result) ? e.result : {};
    const completed = result.completed === true;
    const outputs: Record<string, unknown> = {
      completed,
      steps: num(result.steps) ?? 0,
      total_reward: num(result.totalReward) ?? 0,
    };
    const answer = str(result.finalAnswer);
    if (answer) outputs.final_answer = truncate(answer, TEXT_LIMIT);
    const endMs = Math.max(timeOf(result.finishedAt) ?? Date.now(), run.startMs);
    const error = completed ? undefined : (str(result.error) ?? 'Run did not complete');
    this.#track(run.tree.end(outputs, error, endMs).then(() => run.tree.patchRun()));
  }

  /** `rlm-obs doctor`: the API key is accepted. */
  async check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    await this.ready;
    if (this.#available) return { ok: true, problems: [], detail: this.#detail };
    return {
      ok: false,
      detail: safeUrl(this.apiUrl),
      problems: [
        {
          problem: this.#detail.replace(/^unavailable: /, ''),
          fix: /refused/.test(this.#detail)
            ? 'set LANGSMITH_API_KEY (or LANGCHAIN_API_KEY) to a valid key for LANGSMITH_ENDPOINT'
            : 'set LANGSMITH_API_KEY and check LANGSMITH_ENDPOINT',
        },
      ],
    };
  }

  /** Sends everything queued; rejects when uploads failed since the last flush. */
  async forceFlush(): Promise<void> {
    const before = this.#fetch.failures;
    await Promise.allSettled([...this.#pending]);
    await this.#client?.awaitPendingTraceBatches();
    const failed = this.#fetch.failures - before;
    if (failed > 0)
      throw new Error(
        `${failed} uploads to ${safeUrl(this.apiUrl)} failed (${this.#fetch.lastError ?? 'unknown error'})`,
      );
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      for (const [, run] of this.#runs)
        this.#track(run.tree.end({ incomplete: true }).then(() => run.tree.patchRun()));
      this.#runs.clear();
      await this.forceFlush();
    })();
    return this.#shutdown;
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#hookErrors++;
      this.#lastHookError = error instanceof Error ? error.message : String(error);
    }
  }
}
