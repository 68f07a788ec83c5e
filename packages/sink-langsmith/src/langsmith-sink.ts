/**
 * `langsmith`: the Python original's LangSmithSink through the official `langsmith` client —
 * a root run `rlm-run-<first 8 of id>` (chain) per RLM run in the project, a `step-<n>`
 * (tool) child run per step with inputs, outputs and error, outputs on end — plus nested runs
 * as child runs, LLM usage as `llm` child runs, and deterministic ids so replays don't
 * duplicate. Scores and feedback become LangSmith feedback on the run (or its step run); the
 * session, user and tags go into the run's metadata and tags; after a 401/403 the sink pauses
 * its uploads (`AuthCooldown`).
 */
import { hash } from 'node:crypto';
import { type Context, context, createContextKey } from '@opentelemetry/api';
import {
  AuthCooldown,
  type AuthCooldownOptions,
  assignOwn,
  createRedactor,
  DeferredHooks,
  defaultSanitizer,
  errorText,
  holdWhilePending,
  isAuthFailure,
  isRecord as isObject,
  finiteNumber as num,
  type Redactor,
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  readContentLimits,
  type ScoreRecord,
  SINK_SPECIFICATION_VERSION,
  type SinkCheckResult,
  type SinkFinishOptions,
  type SinkStatus,
  type StepEvent,
  type StepRecord,
  safeUrl,
  stepUsages,
  stringValue as str,
  epochMs as timeOf,
  truncate,
} from '@rlm/obs-core';
import { Client, type ClientConfig } from 'langsmith';
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
  /**
   * The langsmith client's name for the memory bound of runs waiting for upload: here the
   * same bound as `maxQueuedBytes` (which wins when both are given). Root runs do not wait in
   * a queue (they are sent directly), so it bounds the step and LLM runs.
   */
  maxIngestMemoryBytes?: number;
  /**
   * The memory bound (estimated heap) for step and LLM runs waiting while LangSmith is slow or
   * down; beyond it new ones are dropped and counted (`runs_dropped`) — `rlm-obs replay`
   * sends them later. @defaultValue 16 MiB (~6,000 steps)
   */
  maxQueuedBytes?: number;
  /**
   * Runs started and not yet ended that the sink holds at most. When one more starts, the
   * oldest open run is ended in LangSmith with the error `evicted` and the metadata
   * `rlm.evicted = true`, and counted (`evicted_runs`), so runs that never end cannot grow a
   * long-lived host's memory; its later steps and its own end are ignored (its scores still
   * reach it). @defaultValue `10000`
   */
  maxOpenRuns?: number;
  /** Per-request timeout. @defaultValue `10000` */
  timeoutMs?: number;
  /** Retries per request on 429, 5xx and network errors (with backoff). @defaultValue `3` */
  maxRetries?: number;
  /** @defaultValue `'langsmith'` */
  name?: string;
  /**
   * The pause after LangSmith refuses the key (HTTP 401/403): one minute, doubling up to
   * fifteen. `now`/`random` are for tests.
   */
  authCooldown?: AuthCooldownOptions;
  /**
   * The most characters sent of each text (positive whole numbers); a longer one is cut and
   * marked (`…[truncated N chars]`). @defaultValue 500 each
   */
  limits?: LangSmithLimits;
}

/** The text limits of the `langsmith` sink (characters). */
export interface LangSmithLimits {
  /** A step's `inputs.code`. @defaultValue `500` */
  code?: number;
  /** A step's `outputs.output`. @defaultValue `500` */
  output?: number;
  /** The root run's `outputs.final_answer`. @defaultValue `500` */
  finalAnswer?: number;
  /** The error of a failed step or of a run that did not complete. @defaultValue `500` */
  error?: number;
}

/** The seed's limits: 500 characters for each text. */
export const DEFAULT_LANGSMITH_LIMITS: Readonly<Required<LangSmithLimits>> = Object.freeze({
  code: 500,
  output: 500,
  finalAnswer: 500,
  error: 500,
});

/**
 * OpenTelemetry's "suppress tracing" flag (`suppressTracing()` of `@opentelemetry/core` sets
 * this key: `createContextKey` uses `Symbol.for`, so it is the same one): the sink's own
 * requests run with it, so an application's HTTP/undici instrumentation does not record them.
 */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

function suppressed(): Context {
  return context.active().setValue(SUPPRESS_TRACING, true);
}

/** `fetch` with OpenTelemetry tracing suppressed (see {@link SUPPRESS_TRACING}). */
const untracedFetch: typeof fetch = (input, init) =>
  context.with(suppressed(), () => fetch(input, init));
const DEFAULT_MAX_OPEN_RUNS = 10_000;
/** Ended runs remembered for late feedback (their LangSmith ids need the start time). */
const MAX_ENDED_RUNS = 10_000;
const CHECK_TIMEOUT_MS = 5_000;
/** A LangSmith dotted order: `<stamp>Z<uuid>` segments joined by dots. */
const DOTTED = /^(\d{8}T\d{12}Z[0-9a-f-]{36})(\.\d{8}T\d{12}Z[0-9a-f-]{36})*$/;

// Both time texts change only once a millisecond: a step's runs (and every step in a busy
// millisecond) share one `Date` formatting. Profiled in the sink worker: formatting a date per
// run was ~4% of the sink's CPU.
let stampMs = Number.NaN;
let stampIso = ''; // 2026-11-22T00:51:01.478
let stampCompact = ''; // 20261122T005101478
function stampsOf(ms: number): void {
  if (ms === stampMs) return;
  const iso = new Date(ms).toISOString(); // 2026-11-22T00:51:01.478Z
  stampIso = iso.slice(0, -1);
  stampCompact = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}${iso.slice(20, 23)}`;
  stampMs = ms;
}

/**
 * `YYYYMMDDTHHMMSSffffffZ`, the time part of a dotted-order segment; `order` fills the
 * microseconds (as the client's execution order does) so siblings of one millisecond sort.
 */
function dottedStamp(ms: number, order = 0): string {
  stampsOf(ms);
  return `${stampCompact}${micros(order)}Z`;
}

/** A start time as the client sends it: ISO with microseconds (the execution order). */
function isoMicros(ms: number, order = 0): string {
  stampsOf(ms);
  return `${stampIso}${micros(order)}Z`;
}

const MICROS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
function micros(order: number): string {
  const n = Math.abs(Math.trunc(order)) % 1000;
  return MICROS[n] ?? String(n).padStart(3, '0');
}

/**
 * An LLM run's metadata: its step's, then the model, provider, cost and usage. Filled key by
 * key (`assignOwn`): a spread copy with keys added takes V8's slow path on every step.
 */
function llmMetadata(
  stepMetadata: Record<string, unknown>,
  usage: { model?: string; provider?: string; costUsd?: number },
  usageMetadata: Record<string, unknown>,
): Record<string, unknown> {
  const metadata = assignOwn({}, stepMetadata);
  if (usage.model) metadata.ls_model_name = usage.model;
  if (usage.provider) metadata.ls_provider = usage.provider;
  if (usage.costUsd !== undefined) metadata.cost_usd = usage.costUsd;
  metadata.usage_metadata = usageMetadata;
  return metadata;
}

function plainParams(params: unknown): unknown {
  return isObject(params) ? defaultSanitizer()(params) : {};
}

/** A run create as the client's `batchIngestRuns` takes it. */
interface RunCreate {
  id: string;
  name: string;
  run_type: string;
  start_time: string;
  end_time: number;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  error?: string;
  extra: { metadata: Record<string, unknown> };
  session_name: string;
  parent_run_id: string;
  trace_id: string;
  dotted_order: string;
}

/** Runs per upload request. */
const BATCH_RUNS = 1000;
/**
 * How long a part-filled batch waits for more runs (the client batches for 250 ms): an agent
 * taking a step per millisecond then costs ~10 uploads a second, not a thousand.
 */
const LINGER_MS = 100;
/** The estimated heap of a queued step run (without its texts) and of an LLM run. */
const STEP_RUN_BYTES = 2500;
const LLM_RUN_BYTES = 2000;
/** Bytes (estimated) per upload request. */
const BATCH_BYTES = 8 * 1024 * 1024;

/**
 * A UUID v7-shaped id derived from the run id (and a step): the run's start time in the
 * first 48 bits, a hash in the rest — the same on every replay of the run.
 */
export function langsmithRunId(runId: string, startMs: number, part?: string | number): string {
  const hex = hash('sha256', `rlm-obs:langsmith:${runId}:${part ?? 'run'}`, 'hex');
  // The low 48 bits of the whole milliseconds, big-endian (`%` of a double is exact).
  const ms = Number.isFinite(startMs) ? Math.max(0, Math.floor(startMs)) % 2 ** 48 : 0;
  const time = ms.toString(16).padStart(12, '0');
  // Version 7 in the 13th digit; the variant (10xx) in the 17th.
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The statuses worth another try (as the client's own caller has them). */
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

function sleepUnref(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Calls with retries, in place of the client's two callers: the same attempts (`maxRetries`
 * more after the first, for network errors and 408/425/429/5xx; never for a cancelled, timed
 * out or otherwise refused request), the same backoff (1 s doubling, times 1–2) — but on
 * unref'ed timers, and a 404 or 409 is final (the client retried those as if the network had
 * failed: its errors for them carry no status). The client's own callers waited on timers that
 * kept a process alive for its retries (~21 s with LangSmith down, default retries) after its
 * work was done; the exit flush, which holds the process until its deadline, still gives them
 * their time. And it takes `maxRetries` for every request: the client gave it to its upload
 * queue only.
 */
class UnrefRetryCaller {
  readonly maxRetries: number;
  #running = 0;
  #idle: Array<() => void> = [];
  /** All the client reads of its upload caller's queue: waiting for the uploads in flight. */
  readonly queue = {
    onIdle: (): Promise<void> =>
      this.#running === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve)),
  };
  constructor(maxRetries: number) {
    this.maxRetries = Math.max(0, maxRetries);
  }
  call<A extends unknown[], T>(callable: (...args: A) => Promise<T>, ...args: A): Promise<T> {
    return this.callWithOptions({}, callable, ...args);
  }
  async callWithOptions<A extends unknown[], T>(
    _options: unknown,
    callable: (...args: A) => Promise<T>,
    ...args: A
  ): Promise<T> {
    this.#running++;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await callable(...args);
        } catch (error) {
          const wait = attempt < this.maxRetries ? retryDelay(error, attempt) : undefined;
          if (wait === undefined) throw error instanceof Error ? error : new Error(String(error));
          await sleepUnref(wait);
        }
      }
    } finally {
      if (--this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}

/** How long to wait before the next attempt after `error`, or `undefined`: no retry. */
function retryDelay(error: unknown, attempt: number): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { message?: unknown; name?: unknown; code?: unknown; status?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  if (/^(Cancel|TimeoutError|AbortError)/.test(message)) return undefined;
  if (
    e.name === 'TimeoutError' ||
    e.name === 'AbortError' ||
    e.name === 'LangSmithNotFoundError' ||
    e.name === 'LangSmithConflictError' ||
    e.code === 'ECONNABORTED'
  )
    return undefined;
  if (e.status != null && !RETRYABLE_STATUS.has(Number(e.status))) return undefined;
  return Math.round(1000 * 2 ** attempt * (1 + Math.random()));
}

/**
 * The client the root runs' `RunTree`s post and patch through. `RunTree` catches a failed
 * create or update and writes it to the console; here it is handed to `onError` instead (the
 * sink counts and reports it) and the call resolves.
 */
class ReportingClient extends Client {
  readonly #onError: (error: unknown) => void;
  constructor(config: ClientConfig, onError: (error: unknown) => void) {
    super(config);
    this.#onError = onError;
    // Both of the client's callers (direct requests; uploads) replaced: see UnrefRetryCaller.
    const retries = config.callerOptions?.maxRetries ?? 3;
    const self = this as unknown as { caller?: unknown; batchIngestCaller?: unknown };
    if (self.caller !== undefined) self.caller = new UnrefRetryCaller(retries);
    if (self.batchIngestCaller !== undefined)
      self.batchIngestCaller = new UnrefRetryCaller(retries);
  }
  override async createRun(...args: Parameters<Client['createRun']>): Promise<void> {
    try {
      await super.createRun(...args);
    } catch (error) {
      this.#onError(error);
    }
  }
  override async updateRun(...args: Parameters<Client['updateRun']>): Promise<void> {
    try {
      await super.updateRun(...args);
    } catch (error) {
      this.#onError(error);
    }
  }
}

/**
 * What feedback and child runs need of a run in LangSmith, also after the run ended (a
 * sub-run replayed after its parent still nests under it).
 */
interface RunRef {
  /** The run's LangSmith id. */
  lsId: string;
  traceId: string;
  startMs: number;
  /** The root run's dotted order and metadata, which its step and child runs extend. */
  dotted: string;
  metadata: Record<string, unknown>;
}

/** An ended run, remembered (a bounded number of them) for late feedback and child runs. */
interface EndedRun extends RunRef {
  /**
   * The execution order of its latest child run (the client's `child_execution_order`):
   * the next child's start time gets this plus one in its microseconds, as `createChild` does.
   */
  childOrder: number;
}

/**
 * The step numbers a run used, to tell a reused one: a contiguous range (steps numbered one
 * after another take no memory per step) and a set for the rest.
 */
class StepNumbers {
  #from = 0;
  #to = -1;
  readonly #others = new Set<number>();
  has(n: number): boolean {
    return (n >= this.#from && n <= this.#to && Number.isInteger(n)) || this.#others.has(n);
  }
  add(n: number): void {
    if (Number.isSafeInteger(n) && this.#to < this.#from) {
      this.#from = n;
      this.#to = n;
    } else if (Number.isSafeInteger(n) && n === this.#to + 1) {
      this.#to = n;
      while (this.#others.delete(this.#to + 1)) this.#to++;
    } else if (Number.isSafeInteger(n) && n === this.#from - 1) {
      this.#from = n;
      while (this.#others.delete(this.#from - 1)) this.#from--;
    } else if (!this.has(n)) this.#others.add(n);
  }
}

interface OpenRun extends RunRef {
  tree: RunTree;
  lastStepEnd: number;
  /** Steps seen (every one, also those skipped or dropped): the n-th step's sequence. */
  steps: number;
  stepNumbers: StepNumbers;
  /** The root run's create was sent (and not lost to an auth failure since). */
  posted: boolean;
  /** The root run's create request, which its end's patch waits for. */
  created: Promise<unknown> | undefined;
  ended: boolean;
  parent: OpenRun | undefined;
}

/** Counts what the client's uploads did, through its `fetchImplementation`. */
class CountingFetch {
  requests = 0;
  failures = 0;
  lastError: string | undefined;
  /** The errors already counted here (a request that never got an answer). */
  readonly counted = new WeakSet<object>();
  constructor(
    private readonly onAuthFailure: (status: number) => void,
    private readonly onWriteOk: () => void,
  ) {}
  readonly fetch: typeof fetch = async (input, init) => {
    this.requests++;
    try {
      const response = await untracedFetch(input, init);
      if (!response.ok && response.status !== 404) {
        this.failures++;
        this.lastError = `HTTP ${response.status} from ${safeUrl(String(input instanceof Request ? input.url : input))}`;
        if (isAuthFailure(response.status)) this.onAuthFailure(response.status);
      } else if (response.ok) {
        // Only a write proves the key works (reads such as /info may need no key at all).
        const method = (
          init?.method ?? (input instanceof Request ? input.method : 'GET')
        ).toUpperCase();
        if (method !== 'GET' && method !== 'HEAD') this.onWriteOk();
      }
      return response;
    } catch (error) {
      this.failures++;
      this.lastError = error instanceof Error ? error.message : String(error);
      if (typeof error === 'object' && error !== null) this.counted.add(error);
      throw error;
    }
  };
}

/** What `stats()` returns. */
export interface LangSmithSinkStats {
  requests: number;
  failed_requests: number;
  bad_events: number;
  open_runs: number;
  /** Step and LLM runs sent, waiting to be sent, and dropped (queue full or shut down). */
  runs_sent: number;
  runs_queued: number;
  runs_dropped: number;
  /** Scores on runs this sink never saw (their LangSmith ids are unknown). */
  unmatched_scores: number;
  /** Open runs ended as `evicted` to keep under `maxOpenRuns`. */
  evicted_runs: number;
  authFailures: number;
  authSkipped: number;
  authPausedUntil: string | null;
  last_error?: string;
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
  /** The client `check()` asks LangSmith with (one attempt, short timeout, not counted). */
  #checkClient: Client | undefined;
  #fetch: CountingFetch;
  #cooldown: AuthCooldown;
  #available = false;
  #detail: string;
  /** Knows the API key and the URL's credentials: every text the sink shows goes through it. */
  readonly #redactor: Redactor;
  /**
   * The connection check failed — LangSmith unreachable or the key refused: `available` stays
   * false until a write is accepted (the sink keeps sending meanwhile).
   */
  #setupFailed = false;
  #runs = new Map<string, OpenRun>();
  #ended = new Map<string, EndedRun>();
  #projectId: Promise<string | undefined> | undefined;
  #unmatchedScores = 0;
  #evictedRuns = 0;
  readonly #maxOpenRuns: number;
  /** Scores refused for their shape (the hooks' thrown errors are counted by `#hooks`). */
  #badScores = 0;
  #lastBadEvent: string | undefined;
  #pending = new Set<Promise<unknown>>();
  #shutdown: Promise<void> | undefined;
  /** The hooks only queue their call; the drain builds the runs, then starts an upload. */
  readonly #hooks = new DeferredHooks(undefined, () => this.#pump());
  /** Step and LLM runs waiting for upload, their estimated bytes and bound. */
  #outbox: { run: RunCreate; bytes: number }[] = [];
  #outboxBytes = 0;
  #maxQueuedBytes: number;
  readonly #limits: Required<LangSmithLimits>;
  #sending: Promise<void> | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #runsSent = 0;
  #runsDropped = 0;
  #droppedReported = 0;
  /** `/runs/batch` answered 404: upload through the client's multipart path instead. */
  #useMultipart = false;

  constructor(options: LangSmithSinkOptions = {}) {
    this.name = options.name ?? 'langsmith';
    this.enabled = options.enabled !== false;
    this.projectName = options.projectName ?? 'rlm-code';
    this.apiUrl = (options.apiUrl ?? 'https://api.smith.langchain.com').replace(/\/+$/, '');
    this.#detail = 'disabled';
    this.ready = Promise.resolve();
    this.#maxQueuedBytes =
      options.maxQueuedBytes ?? options.maxIngestMemoryBytes ?? 16 * 1024 * 1024;
    const limits = readContentLimits(DEFAULT_LANGSMITH_LIMITS, options.limits);
    this.#limits = 'limits' in limits ? limits.limits : { ...DEFAULT_LANGSMITH_LIMITS };
    this.#maxOpenRuns = Math.max(1, options.maxOpenRuns ?? DEFAULT_MAX_OPEN_RUNS);
    this.#cooldown = new AuthCooldown(options.authCooldown);
    this.#redactor = createRedactor();
    if (options.apiKey) this.#redactor.remember(options.apiKey);
    this.#redactor.redactString(this.apiUrl); // learns the URL's `user:password`, if any
    this.#fetch = new CountingFetch(
      (status) => this.#authFailed(status),
      () => this.#authOk(),
    );
    if (!this.enabled) return;
    if ('problem' in limits) {
      this.#detail = `unavailable: ${limits.problem}`;
      return;
    }
    if (!options.apiKey) {
      this.#detail = 'unavailable: set LANGSMITH_API_KEY (or LANGCHAIN_API_KEY)';
      return;
    }
    try {
      const config: ClientConfig = {
        apiUrl: this.apiUrl,
        apiKey: options.apiKey,
        // Root runs and feedback go out as direct requests (POST /runs, PATCH /runs/{id},
        // POST /feedback), so a failure comes back to the sink (through ReportingClient) to be
        // counted and reported; the client's auto-batch queue logged each failed batch to the
        // console, with every run id in it, outside rlm-obs's logger. Step runs are batched
        // by this sink.
        autoBatchTracing: false,
        timeout_ms: options.timeoutMs ?? 10_000,
        // Retries are bounded, so a long outage costs failed uploads, not an endless queue.
        callerOptions: { maxRetries: options.maxRetries ?? 3 },
        fetchImplementation: this.#fetch.fetch,
        preferProfileAuth: false,
      };
      this.#client = new ReportingClient(config, (error) => this.#failed(error));
      // Buffered multipart bodies (the client's LANGSMITH_DISABLE_MULTIPART_STREAMING): the
      // streamed ones reach the socket as one tiny write per part, which cost ~20x the CPU.
      (
        this.#client as unknown as { multipartStreamingDisabled: boolean }
      ).multipartStreamingDisabled = true;
      this.#available = true;
      this.#detail = `${safeUrl(this.apiUrl)} project: ${this.projectName}`;
      // One attempt: an application waits for the check when it creates the sink, and the
      // client's retries of an unreachable host (seconds of backoff) would all be waited out.
      if (options.connectionCheck !== false)
        this.ready = this.#connectionCheck(
          new ReportingClient({ ...config, callerOptions: { maxRetries: 0 } }, () => undefined),
        );
      // `check()` (`rlm-obs doctor`) asks LangSmith each time: one attempt, a short timeout,
      // and outside the upload counters and the auth pause (it only reports).
      this.#checkClient = new ReportingClient(
        {
          ...config,
          timeout_ms: Math.min(config.timeout_ms ?? CHECK_TIMEOUT_MS, CHECK_TIMEOUT_MS),
          callerOptions: { maxRetries: 0 },
          fetchImplementation: untracedFetch,
        },
        () => undefined,
      );
    } catch (error) {
      this.#detail = `setup failed: ${this.#scrub(error)}`;
    }
  }

  /** A text for `status()`, `stats()`, `check()` or a flush error, without the sink's secrets. */
  #scrub(text: unknown): string {
    return this.#redactor.scrub(errorText(text));
  }

  /**
   * One authenticated request (the project list, by name: cheap, and it needs a valid key):
   * `undefined` when LangSmith answered, else why not — the key refused or no usable answer.
   */
  async #probe(client: Client): Promise<{ refused: boolean; message: string } | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const list = (async () => {
        for await (const _project of client.listProjects({ nameContains: this.projectName })) break;
      })();
      // A host that accepts the connection but never answers: nobody should wait for it.
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 5 s')), CHECK_TIMEOUT_MS);
      });
      await Promise.race([list, timeout]);
      return undefined;
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      return { refused: /\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(message), message };
    } finally {
      clearTimeout(timer);
    }
  }

  async #connectionCheck(client: Client): Promise<void> {
    const failure = await this.#probe(client);
    if (!failure) return;
    this.#available = false;
    this.#setupFailed = true;
    this.#detail = failure.refused
      ? `unavailable: the API key was refused by ${safeUrl(this.apiUrl)}`
      : `unavailable: cannot reach ${safeUrl(this.apiUrl)}: ${failure.message}`;
  }

  /** A 401/403 from LangSmith: pause (a failure during the pause came from earlier requests). */
  #authFailed(status: number): void {
    if (!this.#cooldown.refused(status)) return;
    // What was in flight may be lost: open runs post their root run again when they resume
    // (the ids are deterministic, so LangSmith keeps one run).
    for (const run of this.#runs.values()) run.posted = false;
  }

  #authOk(): void {
    this.#cooldown.succeed();
    if (this.#setupFailed) {
      this.#setupFailed = false;
      this.#available = true;
      this.#detail = `${safeUrl(this.apiUrl)} project: ${this.projectName}`;
    }
  }

  /** During an auth pause: counts the skipped event and says so. */
  #paused(): boolean {
    return this.#cooldown.paused && this.#cooldown.skip();
  }

  /**
   * The seed's fields, the project (`project`, as the original has it; `project_name` too, as
   * earlier versions had it), and what was lost: the upload counters of `stats()` and, once an
   * upload failed, `last_error` (without the key).
   */
  status(): SinkStatus {
    const auth = this.#cooldown.detail();
    const status: SinkStatus = {
      name: this.name,
      enabled: this.enabled,
      available: this.#available,
      detail: this.#scrub(auth ? `${this.#detail}; ${auth}` : this.#detail),
      project: this.projectName,
      project_name: this.projectName,
      requests: this.#fetch.requests,
      failed_requests: this.#fetch.failures,
      runs_sent: this.#runsSent,
      runs_queued: this.#outbox.length,
      runs_dropped: this.#runsDropped,
      evicted_runs: this.#evictedRuns,
      open_runs: this.#runs.size,
      ...(this.#cooldown.failures > 0 ? this.#cooldown.stats() : {}),
    };
    if (this.#fetch.lastError) status.last_error = this.#scrub(this.#fetch.lastError);
    const badEvents = this.#hooks.errors + this.#badScores;
    if (badEvents > 0) {
      status.bad_events = badEvents;
      const lastBad = this.#lastBadEvent ?? this.#hooks.lastError;
      if (lastBad) status.last_bad_event = this.#scrub(lastBad);
    }
    return status;
  }

  /** Upload counters. */
  stats(): LangSmithSinkStats {
    const stats: LangSmithSinkStats = {
      requests: this.#fetch.requests,
      failed_requests: this.#fetch.failures,
      bad_events: this.#hooks.errors + this.#badScores,
      open_runs: this.#runs.size,
      runs_sent: this.#runsSent,
      runs_queued: this.#outbox.length,
      runs_dropped: this.#runsDropped,
      unmatched_scores: this.#unmatchedScores,
      evicted_runs: this.#evictedRuns,
      ...this.#cooldown.stats(),
    };
    const lastError = this.#fetch.lastError ?? this.#lastBadEvent ?? this.#hooks.lastError;
    if (lastError) stats.last_error = this.#scrub(lastError);
    return stats;
  }

  /**
   * LangSmith's distributed-tracing headers for a run (`langsmith-trace`, `baggage`), to
   * continue it in another process: pass them as the child run's
   * `attributes: { 'langsmith.headers': headers }`.
   */
  headers(runId: string): Record<string, string> | undefined {
    this.#hooks.drain();
    const run = this.#runs.get(runId);
    return run ? (run.tree.toHeaders() as unknown as Record<string, string>) : undefined;
  }

  // The hooks only queue the call (the caller pays well under a microsecond); the drain, on
  // the next turn of the event loop, builds the runs and hands them to the uploads.
  onRunStart(runId: string, start: RunStart): void {
    if (this.#accepting()) this.#hooks.run(() => this.#onRunStart(runId, start));
  }

  onStep(runId: string, record: StepRecord): void {
    if (this.#accepting()) this.#hooks.run(() => this.#onStep(runId, record));
  }

  onRunEnd(runId: string, end: RunEnd): void {
    if (this.#accepting()) this.#hooks.run(() => this.#onRunEnd(runId, end));
  }

  /** A score or feedback: LangSmith feedback on the run, or on its step run with `step`. */
  onScore(runId: string, score: ScoreRecord): void {
    if (this.#accepting()) this.#hooks.run(() => this.#onScore(runId, score));
  }

  #accepting(): boolean {
    return this.#client !== undefined && this.#shutdown === undefined;
  }

  /** Queues a step or LLM run for upload, or drops and counts it when the queue is full. */
  #enqueueRun(run: RunCreate, bytes: number): void {
    if (this.#outboxBytes + bytes > this.#maxQueuedBytes) {
      this.#runsDropped++;
      return;
    }
    this.#outbox.push({ run, bytes });
    this.#outboxBytes += bytes;
  }

  /**
   * One upload at a time: up to {@link BATCH_RUNS} runs per request, oldest first; a
   * part-filled batch waits {@link LINGER_MS} for more unless `now` (a flush).
   */
  #pump(now = false): void {
    if (this.#sending || this.#outbox.length === 0 || !this.#client) return;
    if (!now && this.#outbox.length < BATCH_RUNS && !this.#cooldown.paused) {
      this.#linger ??= setTimeout(() => {
        this.#linger = undefined;
        this.#pump(true);
      }, LINGER_MS).unref();
      return;
    }
    clearTimeout(this.#linger);
    this.#linger = undefined;
    if (this.#cooldown.paused) {
      // Refused key: what waits is skipped (counted); it comes back with a replay.
      this.#cooldown.skip(this.#outbox.length);
      this.#outbox = [];
      this.#outboxBytes = 0;
      return;
    }
    let count = 0;
    let bytes = 0;
    while (count < this.#outbox.length && count < BATCH_RUNS && bytes < BATCH_BYTES)
      bytes += this.#outbox[count++]!.bytes;
    const batch = this.#outbox.splice(0, count).map((queued) => queued.run);
    this.#outboxBytes -= bytes;
    const client = this.#client;
    const send = async (): Promise<void> => {
      if (!this.#useMultipart) {
        try {
          await client.batchIngestRuns({ runCreates: batch as never });
          this.#runsSent += batch.length;
          return;
        } catch (error) {
          // Already there (a replay of sent runs): nothing to add.
          if ((error as Error)?.name === 'LangSmithConflictError') {
            this.#runsSent += batch.length;
            return;
          }
          if ((error as Error)?.name !== 'LangSmithNotFoundError') throw error;
          // A LangSmith without the JSON endpoint: the client's multipart path from now on.
          this.#useMultipart = true;
        }
      }
      await client.multipartIngestRuns({ runCreates: batch as never });
      this.#runsSent += batch.length;
    };
    const sending = send()
      .catch((error: unknown) => this.#failed(error))
      .finally(() => {
        this.#sending = undefined;
        this.#pump();
      });
    this.#sending = sending;
  }

  #track(promise: Promise<unknown>): void {
    const p = promise.catch((error: unknown) => this.#failed(error));
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  /**
   * A call that failed: counted unless the fetch wrapper already counted it (an HTTP error
   * answer, or a request that got no answer).
   */
  #failed(error: unknown): void {
    const counted =
      typeof (error as { status?: unknown })?.status === 'number' ||
      (typeof error === 'object' && error !== null && this.#fetch.counted.has(error));
    if (!counted) this.#fetch.failures++;
    this.#fetch.lastError = error instanceof Error ? error.message.split('\n')[0] : String(error);
  }

  #onRunStart(runId: string, start: RunStart): void {
    const client = this.#client;
    if (!client) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const s = isObject(start) ? start : ({} as RunStart);
    const startMs = timeOf(s.startedAt) ?? this.#hooks.now();
    const environment = str(s.environment) ?? '';
    const attributes = isObject(s.attributes) ? s.attributes : {};
    const sessionId = str(s.sessionId);
    const userId = str(s.userId);
    const labels = Array.isArray(s.tags) ? s.tags.filter((t) => typeof t === 'string' && t) : [];
    const config = {
      name: `rlm-run-${id.slice(0, 8)}`,
      run_type: 'chain',
      id: langsmithRunId(id, startMs),
      // Plain JSON (the coordinator's input already is; a direct call may pass anything): the
      // client serializes it later, off this call, where a throwing getter would be lost.
      inputs: { task: str(s.task) ?? '', environment, params: plainParams(s.params) },
      // LangSmith groups traces into threads by `session_id`/`thread_id` and shows
      // `user_id`; child runs inherit the metadata.
      metadata: {
        run_id: id,
        environment,
        ...attributes,
        ...(sessionId ? { session_id: sessionId, thread_id: sessionId } : {}),
        ...(userId ? { user_id: userId } : {}),
      },
      tags: [...new Set(['rlm', environment, ...labels].filter(Boolean))],
      start_time: startMs,
      project_name: this.projectName,
      client,
      tracingEnabled: true,
    };
    const parentId = typeof s.parentRunId === 'string' ? s.parentRunId : undefined;
    const parent = parentId !== undefined ? this.#runs.get(parentId) : undefined;
    // A parent that already ended (`rlm-obs replay` sends runs one at a time, parent first):
    // the child nests under it all the same, as `createChild` would have made it.
    const endedParent = !parent && parentId !== undefined ? this.#ended.get(parentId) : undefined;
    const remote = isObject(attributes['langsmith.headers'])
      ? (attributes['langsmith.headers'] as Record<string, string>)
      : undefined;
    let tree: RunTree;
    if (parent) tree = parent.tree.createChild(config);
    else if (endedParent) {
      const order = ++endedParent.childOrder;
      tree = new RunTree({
        ...config,
        // The parent's metadata, the child's own first (createChild merges them so).
        metadata: { ...endedParent.metadata, ...config.metadata },
        parent_run_id: endedParent.lsId,
        trace_id: endedParent.traceId,
        dotted_order: `${endedParent.dotted}.${dottedStamp(startMs, order)}${config.id}`,
        execution_order: order,
        child_execution_order: order,
      });
    } else if (
      remote &&
      typeof remote['langsmith-trace'] === 'string' &&
      DOTTED.test(remote['langsmith-trace'])
    ) {
      // A parent in another process: continue its dotted order. (RunTree.fromHeaders(…)
      // .createChild() would post through a default client read from the environment.)
      const parentDotted = remote['langsmith-trace'];
      const segments = parentDotted.split('.');
      const traceId = segments[0]!.slice(-36);
      tree = new RunTree({
        ...config,
        parent_run_id: segments.at(-1)!.slice(-36),
        trace_id: traceId,
        dotted_order: `${parentDotted}.${dottedStamp(startMs)}${config.id}`,
      });
    } else tree = new RunTree(config);
    if (!this.#runs.has(id) && this.#runs.size >= this.#maxOpenRuns) this.#evictOldest();
    const run: OpenRun = {
      tree,
      dotted: tree.dotted_order,
      metadata: (tree.extra?.metadata as Record<string, unknown> | undefined) ?? {},
      lsId: tree.id,
      traceId: tree.trace_id,
      startMs,
      lastStepEnd: startMs,
      steps: 0,
      stepNumbers: new StepNumbers(),
      posted: false,
      created: undefined,
      ended: false,
      parent,
    };
    this.#runs.set(id, run);
    this.#ended.delete(id);
    // Posted now, so a long run shows up live; its end is a patch. During an auth pause it
    // is posted with its first step (or its end) after the pause.
    if (!this.#cooldown.paused) this.#post(run);
  }

  /** Posts the root run of an open run (and of an unposted open parent first). */
  #post(run: OpenRun): void {
    if (run.posted || run.ended) return;
    if (run.parent) this.#post(run.parent);
    run.posted = true;
    run.created = run.tree.postRun();
    this.#track(run.created);
  }

  #onStep(runId: string, record: StepRecord): void {
    if (!this.#client) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const run = this.#runs.get(id);
    if (!run) return;
    // Every step counts, also one skipped now: a replay of the run sees the same sequence.
    const seq = ++run.steps;
    const r = isObject(record) ? record : ({} as StepRecord);
    const event: StepEvent = isObject(r.event) ? r.event : {};
    // Without a step number, the n-th step of the run is step n.
    const step = num(event.step) ?? seq;
    // The step run's id comes from its number (as earlier versions made it, and as a score
    // naming the step finds it); a number this run already used also takes the sequence, so
    // each step is a run of its own and a replay (same steps, same order) keeps the ids.
    const part = run.stepNumbers.has(step) ? `${step}#${seq}` : step;
    run.stepNumbers.add(step);
    if (this.#paused()) return;
    this.#post(run);
    const action = isObject(event.action) ? event.action : {};
    const observation = isObject(event.observation) ? event.observation : {};
    const duration = num(event.durationMs);
    const startMs = timeOf(event.startedAt) ?? run.lastStepEnd;
    const endMs =
      duration !== undefined
        ? startMs + Math.max(0, duration)
        : Math.max(startMs, this.#hooks.now());
    // Estimated heap while queued: the texts (two bytes a character at worst) plus the run's
    // objects and fixed strings (~2.5 KB measured for a step run).
    let bytes = STEP_RUN_BYTES;
    const inputs: Record<string, unknown> = { action: str(action.action) ?? 'unknown' };
    const code = str(action.code);
    if (code) {
      inputs.code = truncate(code, this.#limits.code);
      bytes += 2 * (inputs.code as string).length;
    }
    const outputs: Record<string, unknown> = {
      success: observation.success === true,
      reward: num(event.reward) ?? 0,
      cumulative_reward: num(r.cumulativeReward) ?? 0,
    };
    const out = str(observation.output);
    if (out) {
      outputs.output = truncate(out, this.#limits.output);
      bytes += 2 * (outputs.output as string).length;
    }
    // The step run as the client's RunTree would create it (child runs inherit the
    // metadata), built directly: a RunTree per step cost more than everything else here.
    const stepId = langsmithRunId(id, run.startMs, part);
    const stepDotted = `${run.dotted}.${dottedStamp(startMs, step + 1)}${stepId}`;
    // Not a spread: V8 would give each merged object a shape of its own (see `assignOwn`).
    const metadata = isObject(event.attributes)
      ? assignOwn(assignOwn({}, run.metadata), event.attributes)
      : run.metadata;
    const stepRun: RunCreate = {
      id: stepId,
      name: `step-${step}`,
      run_type: 'tool',
      start_time: isoMicros(startMs, step + 1),
      end_time: endMs,
      inputs,
      outputs,
      extra: { metadata },
      session_name: this.projectName,
      parent_run_id: run.lsId,
      trace_id: run.traceId,
      dotted_order: stepDotted,
    };
    if (observation.success !== true) {
      stepRun.error = truncate(str(observation.error) ?? 'step failed', this.#limits.error);
      bytes += 2 * stepRun.error.length;
    }
    this.#enqueueRun(stepRun, bytes);
    stepUsages(event).forEach((usage, i) => {
      // LangSmith's usage shape; `total_cost` is the cost the caller or the price table gave.
      const usageMetadata = {
        input_tokens: usage.inputTokens,
        output_tokens: usage.outputTokens,
        total_tokens: usage.totalTokens,
        ...(usage.costUsd !== undefined ? { total_cost: usage.costUsd } : {}),
      };
      const llmId = langsmithRunId(id, run.startMs, `${part}:llm:${i}`);
      this.#enqueueRun(
        {
          id: llmId,
          name: usage.model ?? 'llm',
          run_type: 'llm',
          start_time: isoMicros(startMs, i + 1),
          end_time: endMs,
          inputs: {},
          outputs: { usage_metadata: usageMetadata },
          extra: { metadata: llmMetadata(metadata, usage, usageMetadata) },
          session_name: this.projectName,
          parent_run_id: stepId,
          trace_id: run.traceId,
          dotted_order: `${stepDotted}.${dottedStamp(startMs, i + 1)}${llmId}`,
        },
        LLM_RUN_BYTES,
      );
    });
    run.lastStepEnd = endMs;
  }

  #onRunEnd(runId: string, end: RunEnd): void {
    if (!this.#client) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const run = this.#runs.get(id);
    if (!run) return;
    this.#runs.delete(id);
    this.#remember(id, run);
    const e = isObject(end) ? end : ({} as RunEnd);
    const result = isObject(e.result) ? e.result : {};
    const completed = result.completed === true;
    const outputs: Record<string, unknown> = {
      completed,
      steps: num(result.steps) ?? 0,
      total_reward: num(result.totalReward) ?? 0,
    };
    const answer = str(result.finalAnswer);
    if (answer) outputs.final_answer = truncate(answer, this.#limits.finalAnswer);
    const endMs = Math.max(timeOf(result.finishedAt) ?? this.#hooks.now(), run.startMs);
    const error = completed
      ? undefined
      : truncate(str(result.error) ?? 'Run did not complete', this.#limits.error);
    this.#endRoot(run, outputs, error, endMs);
  }

  /**
   * Ends a root run in LangSmith — a patch once its create was answered, or, for a run never
   * posted (started during an auth pause), the whole run. During an auth pause nothing is sent
   * (the event is counted as skipped).
   */
  #endRoot(
    run: OpenRun,
    outputs: Record<string, unknown>,
    error?: string,
    endMs?: number,
    metadata?: Record<string, unknown>,
  ): void {
    run.ended = true;
    if (this.#paused()) return;
    if (run.parent) this.#post(run.parent);
    const posted = run.posted;
    run.posted = true;
    this.#track(
      run.tree.end(outputs, error, endMs, metadata).then(() => this.#finish(run, posted)),
    );
  }

  /**
   * Makes room under `maxOpenRuns`: the oldest open run is ended now, with the error
   * `evicted` and the metadata `rlm.evicted` (patched once its create was answered).
   */
  #evictOldest(): void {
    const oldest = this.#runs.keys().next().value;
    if (oldest === undefined) return;
    const run = this.#runs.get(oldest)!;
    this.#runs.delete(oldest);
    this.#remember(oldest, run);
    this.#evictedRuns++;
    this.#endRoot(
      run,
      { completed: false },
      `evicted: more than ${this.#maxOpenRuns} runs were open at once`,
      Math.max(this.#hooks.now(), run.lastStepEnd),
      { 'rlm.evicted': true },
    );
  }

  /**
   * Sends an ended root run: a patch once its create settled (the requests go out directly,
   * so a patch must not overtake its create), or the whole run if it was never posted.
   */
  async #finish(run: OpenRun, posted: boolean): Promise<void> {
    if (!posted) return run.tree.postRun();
    await run.created?.catch(() => undefined);
    return run.tree.patchRun();
  }

  #remember(id: string, run: OpenRun): void {
    if (this.#ended.size >= MAX_ENDED_RUNS) {
      const oldest = this.#ended.keys().next().value;
      if (oldest !== undefined) this.#ended.delete(oldest);
    }
    this.#ended.set(id, {
      lsId: run.lsId,
      traceId: run.traceId,
      startMs: run.startMs,
      dotted: run.dotted,
      metadata: run.metadata,
      childOrder: run.tree.child_execution_order,
    });
  }

  #onScore(runId: string, score: ScoreRecord): void {
    const client = this.#client;
    if (!client) return;
    const id = typeof runId === 'string' ? runId : String(runId);
    const s = isObject(score) ? score : ({} as ScoreRecord);
    const name = str(s.name);
    const value = s.value;
    const valid =
      (typeof value === 'number' && Number.isFinite(value)) ||
      typeof value === 'string' ||
      typeof value === 'boolean';
    if (!name || !valid) {
      this.#badScores++;
      this.#lastBadEvent = 'onScore: a score needs a name and a number, string or boolean';
      return;
    }
    // Late feedback finds the run among the ended ones; a run this process never saw has no
    // LangSmith id to attach to (the id needs the run's start time).
    const ref = this.#runs.get(id) ?? this.#ended.get(id);
    if (!ref) {
      this.#unmatchedScores++;
      return;
    }
    if (this.#paused()) return;
    const open = this.#runs.get(id);
    if (open) this.#post(open);
    const step = typeof s.step === 'number' && Number.isSafeInteger(s.step) ? s.step : undefined;
    const kind = s.kind === 'feedback' ? 'feedback' : 'score';
    const source = str(s.source);
    const scoredAt = str(s.at);
    const atMs = timeOf(scoredAt) ?? this.#hooks.now();
    const numeric =
      typeof value === 'boolean' ? (value ? 1 : 0) : typeof value === 'number' ? value : undefined;
    const comment = str(s.comment);
    const params = {
      runId: step === undefined ? ref.lsId : langsmithRunId(id, ref.startMs, step),
      key: name.slice(0, 200),
      ...(numeric !== undefined ? { score: numeric } : { value: String(value) }),
      ...(comment ? { comment } : {}),
      // The same score replayed keeps its id (no duplicate feedback).
      feedbackId: langsmithRunId(
        id,
        atMs,
        `feedback:${kind}:${name}:${step ?? ''}:${String(value)}:${scoredAt ?? ''}`,
      ),
      feedbackSourceType: kind === 'feedback' ? ('app' as const) : ('api' as const),
      sourceInfo: {
        kind,
        ...(source ? { source } : {}),
        rlm_run_id: id,
        ...(step !== undefined ? { step } : {}),
        ...(scoredAt ? { at: scoredAt } : {}),
      },
      traceId: ref.traceId,
      ...(step === undefined ? { startTime: ref.startMs } : {}),
    };
    this.#track(
      (async () => {
        const projectId = await this.#resolveProjectId(client);
        if (projectId) await client.createFeedback({ ...params, sessionId: projectId });
        else {
          // Without the project id: the older call, which most deployments still accept.
          const { runId: target, key, ...options } = params;
          await client.createFeedback(target, key, options);
        }
      })(),
    );
  }

  /**
   * The project's id, which LangSmith wants with run feedback: read by name, created (upsert)
   * when the runs have not created it yet. Cached once known; `undefined` (feedback is sent
   * without it) when LangSmith answers but the project cannot be read or made; a rejection
   * when the key is refused or LangSmith does not answer.
   */
  #resolveProjectId(client: Client): Promise<string | undefined> {
    this.#projectId ??= (async () => {
      let project: { id?: unknown } | undefined;
      try {
        project = await client.readProject({ projectName: this.projectName });
      } catch (error) {
        // Not found (no status): the runs have not created it yet.
        if (typeof (error as { status?: unknown }).status === 'number') throw error;
        project = await client.createProject({ projectName: this.projectName, upsert: true });
      }
      return typeof project?.id === 'string' ? project.id : undefined;
    })().catch((error: unknown) => {
      this.#projectId = undefined; // asked again with the next score
      const status = (error as { status?: unknown }).status;
      // A refused key, or no answer at all (LangSmith unreachable): the feedback fails and is
      // counted rather than going out through the older call, which would fail the same way
      // (and makes the client write a deprecation warning to the console).
      if (isAuthFailure(status) || typeof status !== 'number') throw error;
      return undefined;
    });
    return this.#projectId;
  }

  /**
   * `rlm-obs doctor`: asks LangSmith now — one authenticated request (no retries, at most
   * 5 s) — whether it answers and accepts the API key. During an auth pause (the key was
   * refused moments ago) it reports the pause without a request.
   */
  async check(): Promise<SinkCheckResult> {
    if (!this.enabled) return { ok: true, problems: [], detail: 'disabled' };
    await this.ready;
    const url = safeUrl(this.apiUrl);
    const client = this.#checkClient;
    if (!client)
      // No API key, or the client could not be set up: nothing to ask LangSmith with.
      return {
        ok: false,
        detail: url,
        problems: [
          {
            problem: this.#scrub(this.#detail.replace(/^unavailable: /, '')),
            fix: 'set LANGSMITH_API_KEY (or LANGCHAIN_API_KEY) and check LANGSMITH_ENDPOINT',
          },
        ],
      };
    // Paused after LangSmith refused the key moments ago: the pause holds every request,
    // this one too (the uploads try the key again when it is over).
    const auth = this.#cooldown.paused ? this.#cooldown.detail() : undefined;
    if (auth)
      return {
        ok: false,
        detail: url,
        problems: [
          {
            problem: `LangSmith at ${url} refuses the API key: ${auth}`,
            fix: 'set LANGSMITH_API_KEY (or LANGCHAIN_API_KEY) to a valid key with write access to the project and workspace; uploads resume by themselves after the pause',
          },
        ],
      };
    const failure = await this.#probe(client);
    if (failure)
      return {
        ok: false,
        detail: url,
        problems: [
          failure.refused
            ? {
                problem: `the API key was refused by ${url}`,
                fix: 'set LANGSMITH_API_KEY (or LANGCHAIN_API_KEY) to a valid key for LANGSMITH_ENDPOINT',
              }
            : {
                problem: this.#scrub(`cannot reach ${url}: ${failure.message}`),
                fix: 'check LANGSMITH_ENDPOINT and that LangSmith is reachable from here',
              },
        ],
      };
    return { ok: true, problems: [], detail: this.#scrub(`${url} project: ${this.projectName}`) };
  }

  /** Sends everything queued; rejects when uploads failed since the last flush. */
  forceFlush(options?: SinkFinishOptions): Promise<void> {
    return holdWhilePending(this.#flush(), options?.timeoutMs);
  }

  async #flush(): Promise<void> {
    const before = this.#fetch.failures;
    this.#hooks.drain();
    this.#pump(true);
    while (this.#sending) {
      await this.#sending;
      this.#pump(true);
    }
    await Promise.allSettled([...this.#pending]);

    const failed = this.#fetch.failures - before;
    const skipped = this.#cooldown.takeSkipped();
    const dropped = this.#runsDropped - this.#droppedReported;
    this.#droppedReported = this.#runsDropped;
    const problems: string[] = [];
    if (failed > 0)
      problems.push(
        `${failed} uploads to ${safeUrl(this.apiUrl)} failed (${this.#fetch.lastError ?? 'unknown error'})`,
      );
    if (skipped > 0)
      problems.push(
        `${skipped} events not sent to ${safeUrl(this.apiUrl)}: paused after LangSmith refused the API key`,
      );
    if (dropped > 0)
      problems.push(
        `${dropped} step runs dropped: more than ${this.#maxQueuedBytes} bytes waited for ${safeUrl(this.apiUrl)}`,
      );
    if (problems.length > 0) throw new Error(this.#scrub(problems.join('; ')));
  }

  shutdown(options?: SinkFinishOptions): Promise<void> {
    this.#hooks.drain();
    this.#shutdown ??= (async () => {
      for (const [, run] of this.#runs) this.#endRoot(run, { incomplete: true });
      this.#runs.clear();
      await this.forceFlush(options);
    })();
    return this.#shutdown;
  }
}
