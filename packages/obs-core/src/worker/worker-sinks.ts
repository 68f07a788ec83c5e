/**
 * Sinks that run in a worker thread. The remote sinks' real work — building spans and runs,
 * encoding protobuf and JSON, compressing, HTTP — costs the thread that does it tens of
 * microseconds per step. {@link createWorkerSinks} creates those sinks in one worker thread
 * and gives the application's coordinator a light stand-in for each: a stand-in's hook only
 * appends the (already prepared) event to a batch, and the batch is posted to the worker
 * every `postDelayMs` (one structured clone per event however many sinks take it).
 *
 * In the worker the events go through a coordinator of their own, so every sink keeps its
 * ordered, bounded, timed-out lane. `status()` shows the worker's delivery counters under
 * `worker`; `flush()`/`shutdown()` reach the worker under the caller's deadline and report
 * the worker's counters (what the sink delivered, failed, dropped, and lost when the worker
 * stopped), so a sink reports the same figures in the worker as in this thread; and a
 * process that ends without a flush still delivers (the coordinator's `beforeExit` flush
 * keeps the worker alive only while it answers). What the worker cannot offer: a sink's own
 * methods beyond the contract (`getTraceId()`, ...), and options that are not plain data.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RlmObsConfigError } from '../config/config-error.js';
import { PLACEHOLDER_SINK } from '../config/placeholder-sink.js';
import { rememberOptionSecrets } from '../config/secrets.js';
import {
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  type ScoreRecord,
  SINK_SPECIFICATION_VERSION,
  type SinkCheckResult,
  type SinkFinishOptions,
  type SinkStatus,
  type StepRecord,
} from '../contract.js';
import type { ObservedSinkStatus } from '../coordinator.js';
import { type DiagnosticLogger, stderrLogger } from '../diagnostics.js';
import { createRedactor } from '../redact.js';
import { defaultSanitizer } from '../sanitize.js';
import type { SinkCounters } from '../sink-channel.js';
import { DELIVERY_COUNTERS, type DeliversElsewhere } from './delivery-counters.js';
import type {
  FromWorker,
  ToWorker,
  WorkerFinishReport,
  WorkerInit,
  WorkerSinkInfo,
  WorkerSinkSpec,
} from './protocol.js';

export type { WorkerSinkSpec } from './protocol.js';

/** Options of {@link createWorkerSinks}. */
export interface WorkerSinksOptions {
  /** Where sink names and relative paths resolve from. @defaultValue the working directory */
  configDir?: string;
  /** The config file, for error messages. */
  configFile?: string;
  /** Each spec's key in the config (`sinks[2]`), for error messages. */
  keys?: string[];
  /** More directories to resolve sink packages from. */
  fallbackDirs?: string[];
  /** The environment the sinks see (their `${ENV}` options are already interpolated). @defaultValue `process.env` */
  env?: Record<string, string | undefined>;
  /** Where the worker's warnings go. @defaultValue stderr */
  logger?: DiagnosticLogger;
  /**
   * How long events wait to be posted to the worker with the ones that follow: an agent
   * stepping every millisecond wakes the worker a few dozen times a second, not per step.
   * `flush()` posts at once. @defaultValue `50`
   */
  postDelayMs?: number;
  /**
   * Events posted but not yet taken by the worker (it is behind: CPU-starved or stuck). Past
   * it the stand-ins return a promise, so the coordinator queues — and past its bound drops
   * and counts — exactly as for any slow sink. It bounds the memory that batches on their way
   * take (with every backend down, 20,000 cost ~100 MB more than 2,000). It is also how far a
   * slow sink may fall behind in the worker: past it, the worker reports the sink busy and
   * its next events wait in the coordinator's lane on this side, so a backlog is held (and
   * bounded) once, not twice. @defaultValue `2000`
   */
  maxInFlight?: number;
  /** The worker coordinator's per-sink queue bound. @defaultValue `10000` */
  maxQueueSize?: number;
  /** The worker coordinator's per-call timeout. @defaultValue `10000` */
  callTimeoutMs?: number;
  /** How often the worker sends changed statuses. @defaultValue `500` */
  statusIntervalMs?: number;
  /**
   * How much lower the worker thread's CPU priority is than the application's (Linux nice
   * steps, 0..19): on a machine whose cores are all busy the agent keeps its CPU and the
   * sinks catch up when it waits. `0` keeps the same priority. @defaultValue `10`
   */
  nice?: number;
  /**
   * Flush once this long after the first events, off the application's thread, so that each
   * sink's first export (lazy module loads, compiling its code, the first connection) is
   * paid while the agent works rather than in the flush a short process ends with (five
   * sinks' exit flush ~80 → ~50 ms in the bench). Off by default: while a backend hangs, the
   * exports that flush starts hold their spans until they time out (+8–13 MB with every
   * backend hanging). `0` turns it off. @defaultValue `0`
   */
  warmUpMs?: number;
  /**
   * The young generation of the worker's JavaScript heap, in MB (Node's
   * `resourceLimits.maxYoungGenerationSizeMb`; `0`: V8's default, ~48 MB). The sinks' SDKs
   * allocate ~50 KB a step and hold their export batches for tens of milliseconds: with
   * V8's default the worker scavenged every ~30 ms at full speed, each time copying the
   * batches still waiting, which were then promoted and collected again by the full
   * collector. Twice the room halves the scavenges; in the project's bench (2 cores, the
   * five remote sinks, interleaved pairs) one thread delivered 3% more steps a second on
   * average and, with every backend down, the process's RSS peaked ~60 MB lower and grew
   * ~6 MB less (less is promoted to the old generation, which does not shrink back). Only
   * memory the worker actually allocates is committed. @defaultValue `96`
   */
  youngGenerationMb?: number;
  /** How long the worker may take to create the sinks. @defaultValue `60000` */
  startTimeoutMs?: number;
  /**
   * How many worker threads share the sinks. Each sink lives in one of them, consecutive
   * sinks together (with `2` and five sinks: the first three, then the last two), so sinks
   * listed together — often built on the same SDK — share a heap. One batch serves every
   * thread. One thread does the work of all the sinks one after another; with several busy
   * remote sinks and a spare core two do it side by side (the project's bench, 2 cores, the
   * five remote sinks at full speed: ~8.5–11k steps/s sustained with one thread, ~13–14k with
   * two), but each thread is another JavaScript heap: tens of MB more while backends hang.
   * At most the number of sinks. @defaultValue `1`
   */
  threads?: number;
}

const SHUT_DOWN = 'shut down';
/** Events in one posted batch at most; a fuller batch is posted on the next turn. */
const MAX_BATCH = 2048;
/** Sinks in the worker threads at most (one bit each in an event's sink mask). */
const MAX_SINKS = 30;
/**
 * How long a busy sink's next event waits at most (well below any sensible per-call timeout
 * of the application's coordinator).
 */
const BUSY_HOLD_MS = 250;
/** How much longer than its own deadline the worker may take to answer before we give up. */
const ANSWER_GRACE_MS = 2000;

function workerScript(): URL {
  // Built: dist/sink-worker.js beside this chunk. From the sources (tests): the built file.
  const candidates = [
    new URL('./sink-worker.js', import.meta.url),
    new URL('../../dist/sink-worker.js', import.meta.url),
  ];
  for (const url of candidates) if (existsSync(fileURLToPath(url))) return url;
  throw new Error('sink-worker.js is missing from @rlm/obs-core (build the package)');
}

/** The worker heap's young generation (see `WorkerSinksOptions.youngGenerationMb`). */
const DEFAULT_YOUNG_GENERATION_MB = 96;

/**
 * Starts the worker. It inherits the process's Node flags, except that a parent started as
 * `node --input-type=module -e …` would make it refuse its own file: then the flags are passed
 * without that one — or none, where the rest are flags a worker may not be given explicitly
 * (V8 options such as `--expose-gc`, which it shares with the process anyway).
 */
function startWorker(init: WorkerInit): Worker {
  const options = {
    workerData: init,
    env: init.env as NodeJS.ProcessEnv,
    stdout: false,
    stderr: false,
    ...(init.youngGenerationMb > 0
      ? { resourceLimits: { maxYoungGenerationSizeMb: init.youngGenerationMb } }
      : {}),
  };
  if (!process.execArgv.some((arg) => arg.startsWith('--input-type')))
    return new Worker(workerScript(), options);
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
  try {
    return new Worker(workerScript(), { ...options, execArgv });
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    return new Worker(workerScript(), { ...options, execArgv: [] });
  }
}

interface Outstanding {
  resolve: (message: FromWorker & { t: 'reply' }) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A promise to hand out and the function that settles it. */
interface Gate {
  promise: Promise<void>;
  resolve: () => void;
}

function gate(): Gate {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A worker thread as the {@link EventPoster} sees it. @internal */
export interface PostTarget {
  /** The worker stopped (shut down or failed): events for its sinks are lost. */
  readonly stopped: boolean;
  /** Batch entries the worker has taken. */
  readonly acked: number;
  /** Events that arrived after the worker stopped. */
  lost: number;
  /** Its sinks' bits in the entries' masks. */
  readonly bits: number;
  /** The sinks (bits) whose queue in the worker is long: their next events wait. */
  readonly busy: number;
  /** Settles when the worker reports other busy sinks (or stops). */
  whenFree(): Promise<void>;
  postEvents(text: string, urgent: boolean): void;
}

/**
 * The application's side of the event stream to the sink workers: one batch for all of
 * them, posted as one JSON text every `postDelayMs` (or at once when it is full). Each entry
 * carries a mask of the sinks (one bit per sink, over all threads) that take it, so one
 * event costs one entry and one serialization however many sinks and threads take it; each
 * worker delivers the entries to its own sinks and acknowledges all of them.
 * @internal
 */
export class EventPoster {
  readonly #postDelayMs: number;
  readonly #maxInFlight: number;
  links: PostTarget[] = [];
  #batch: unknown[] = [];
  /** The batch's latest entry (its index) for each payload. */
  #entryOf = new Map<unknown, number>();
  /** Each sink's (bit's) latest entry in the batch; -1: none. */
  readonly #lastEntry = new Int32Array(32).fill(-1);
  #timer: ReturnType<typeof setTimeout> | undefined;
  #immediate = false;
  /** Batch entries so far; a worker's `acked` counts the ones it took. */
  #pushed = 0;
  /** Batches posted so far. */
  posted = 0;
  /** Events handed over for each sink (by bit index) while its worker ran. */
  readonly pushed = new Float64Array(32);
  /** Events for each sink (by bit index) that arrived after its worker stopped. */
  readonly afterStop = new Float64Array(32);
  #pressure: Gate | undefined;

  constructor(options: WorkerSinksOptions) {
    this.#postDelayMs = Math.max(0, options.postDelayMs ?? 50);
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? 2_000);
  }

  /** Entries the slowest running worker has not taken yet. */
  #inFlight(): number {
    let acked = this.#pushed;
    for (const link of this.links) if (!link.stopped && link.acked < acked) acked = link.acked;
    return this.#pushed - acked;
  }

  /**
   * Queues one event for the sink with bit `bit` (in `link`'s thread). The coordinator hands
   * the same prepared object to each sink, so the sinks of one event share one entry — also
   * when their lanes call at different times (a lane that waited for the backpressure below
   * catches up with a run of events): a call joins the batch's entry for its payload unless
   * that sink already has a later entry, so each sink still gets its events in order.
   */
  push(
    link: PostTarget,
    code: number,
    runId: string,
    payload: unknown,
    bit: number,
  ): Promise<void> | undefined {
    const sink = 31 - Math.clz32(bit);
    if (link.stopped) {
      // Hooks never throw: after a shutdown, or with the worker gone, events are counted.
      link.lost++;
      this.afterStop[sink]!++;
      return undefined;
    }
    this.pushed[sink]!++;
    const b = this.#batch;
    const n = b.length;
    // Usually the sinks of an event call one after another: the last entry is the one.
    const entry = n > 0 && b[n - 2] === payload ? n - 4 : this.#entryOf.get(payload);
    const joins =
      entry !== undefined &&
      entry > this.#lastEntry[sink]! &&
      b[entry + 1] === runId &&
      b[entry] === code &&
      ((b[entry + 3] as number) & bit) === 0;
    if (joins) {
      b[entry + 3] = (b[entry + 3] as number) | bit;
      this.#lastEntry[sink] = entry;
    } else {
      b.push(code, runId, payload, bit);
      this.#entryOf.set(payload, n);
      this.#lastEntry[sink] = n;
      this.#pushed++;
    }
    const inFlight = this.#inFlight();
    if (!joins) {
      if (b.length >= MAX_BATCH * 4 || inFlight > this.#maxInFlight) {
        // Full, or the workers are behind: post on the next turn rather than wait for the
        // timer (the delay only gathers events that trickle in).
        if (!this.#immediate) {
          this.#immediate = true;
          setImmediate(this.#postNow);
        }
      } else if (this.#timer === undefined) {
        this.#timer = setTimeout(this.#postNow, this.#postDelayMs);
        this.#timer.unref();
      }
    }
    if (inFlight <= this.#maxInFlight)
      // A sink whose queue in the worker is long: this event goes, the next ones wait in the
      // coordinator's lane here (bounded, counted) rather than pile up in the worker's.
      return (link.busy & bit) === 0 ? undefined : link.whenFree();
    this.#pressure ??= gate();
    return this.#pressure.promise;
  }

  /** A worker took entries (or stopped): lift the backpressure once all are at half the bound. */
  taken(): void {
    if (this.#pressure && this.#inFlight() <= this.#maxInFlight / 2) {
      const pressure = this.#pressure;
      this.#pressure = undefined;
      pressure.resolve();
    }
  }

  readonly #postNow = (): void => {
    this.#immediate = false;
    this.post();
  };

  /** Posts the batch to every running worker now. */
  post(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const b = this.#batch;
    if (b.length === 0) return;
    this.#batch = [];
    this.#entryOf = new Map();
    this.#lastEntry.fill(-1);
    this.posted++;
    // Prepared events are plain JSON data: one JSON text per batch copies to the worker
    // several times faster than a structured clone of the objects.
    let text: string;
    try {
      text = JSON.stringify(b);
    } catch {
      // Not from a coordinator (a stand-in called directly with a cycle, a BigInt, ...):
      // make each such payload safe on its own rather than lose the batch.
      const sanitize = defaultSanitizer();
      const safe = b.slice();
      for (let i = 2; i < safe.length; i += 4) {
        try {
          JSON.stringify(safe[i]);
        } catch {
          safe[i] = sanitize(safe[i]);
        }
      }
      text = JSON.stringify(safe);
    }
    // Past half the bound the workers acknowledge at once (else at most ten times a second).
    const urgent = this.#inFlight() > this.#maxInFlight / 2;
    for (const link of this.links) {
      if (!link.stopped) link.postEvents(text, urgent);
      // Taken from its sinks' lanes before the worker stopped: counted, not silently gone
      // (per sink, they are among the events the worker never accounted for).
      else
        for (let i = 3; i < b.length; i += 4)
          for (let m = (b[i] as number) & link.bits; m !== 0; m &= m - 1) link.lost++;
    }
  }
}

/** The application's end of one sink worker. @internal */
class WorkerLink implements PostTarget {
  readonly #worker: Worker;
  readonly #log: DiagnosticLogger;
  /** Removes the sinks' secrets and URL credentials from what the worker reports. */
  readonly #scrub: (text: string) => string;
  readonly #poster: EventPoster;
  /** Batch entries this worker has taken (it acknowledges every entry, its sinks' or not). */
  acked = 0;
  busy = 0;
  #free: Gate | undefined;
  #freeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Events that arrived after the worker stopped (shut down or failed). */
  lost = 0;
  readonly bits: number;
  #nextId = 1;
  readonly #outstanding = new Map<number, Outstanding>();
  #statuses: ObservedSinkStatus[] = [];
  #stopped: string | undefined;
  /** When the worker stopped (ISO). */
  #stoppedAt: string | undefined;
  /** Why the worker thread failed (its `error` event comes before its `exit`). */
  #error: string | undefined;
  #flush: { posted: number; promise: Promise<WorkerFinishReport> } | undefined;
  readonly #open = new Set<string>();
  #closing:
    | { names: string[]; timeoutMs: number; promise: Promise<WorkerFinishReport> }
    | undefined;
  #ready!: (infos: WorkerSinkInfo[]) => void;
  #failed!: (error: Error) => void;
  readonly started: Promise<WorkerSinkInfo[]>;

  constructor(
    init: WorkerInit,
    poster: EventPoster,
    log: DiagnosticLogger,
    scrub: (text: string) => string,
  ) {
    this.#log = log;
    this.#scrub = scrub;
    this.#poster = poster;
    this.bits = (2 ** init.specs.length - 1) * 2 ** init.bitOffset;
    this.started = new Promise((resolve, reject) => {
      this.#ready = resolve;
      this.#failed = reject;
    });
    this.#worker = startWorker(init);
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    // Stopped at the exit, not at the error: the statuses the worker sends as it ends (what
    // its sinks delivered up to then) arrive between the two.
    this.#worker.on('error', (error) => {
      this.#error ??= `worker thread failed: ${error.message}`;
    });
    this.#worker.on('exit', (code) =>
      this.#stop(this.#error ?? `worker thread exited (code ${code})`),
    );
  }

  #onMessage(message: FromWorker): void {
    switch (message.t) {
      case 'ack':
        this.acked += message.n;
        if (message.b !== this.busy) {
          this.busy = message.b;
          this.#freed();
        }
        this.#poster.taken();
        return;
      case 'status':
        this.#statuses = message.status;
        return;
      case 'reply': {
        const waiting = this.#outstanding.get(message.id);
        if (!waiting) return;
        this.#outstanding.delete(message.id);
        clearTimeout(waiting.timer);
        if (this.#outstanding.size === 0) this.#worker.unref();
        waiting.resolve(message);
        return;
      }
      case 'log':
        this.#log.warn(this.#scrub(message.message));
        return;
      case 'ready':
        this.#statuses = message.status;
        for (const info of message.sinks) this.#open.add(info.name);
        this.#worker.unref();
        this.#ready(message.sinks);
        return;
      case 'init-error':
        this.#failed(
          new RlmObsConfigError(this.#scrub(message.message), {
            ...(message.file !== undefined ? { file: message.file } : {}),
            ...(message.key !== undefined ? { key: message.key } : {}),
          }),
        );
        return;
    }
  }

  #stop(cause: string): void {
    if (this.#stopped !== undefined) return;
    const reason = this.#scrub(cause);
    this.#stopped = reason;
    this.#stoppedAt = new Date().toISOString();
    this.#failed(new Error(reason));
    if (this.#open.size > 0) this.#log.warn(`sink worker: ${reason}`);
    for (const [id, waiting] of this.#outstanding) {
      clearTimeout(waiting.timer);
      waiting.resolve({ t: 'reply', id, error: reason });
    }
    this.#outstanding.clear();
    this.busy = 0;
    this.#freed();
    this.#poster.taken();
  }

  whenFree(): Promise<void> {
    if (!this.#free) {
      this.#free = gate();
      // Never longer than BUSY_HOLD_MS: the coordinator would time the call out and count
      // an event as failed that the worker has. A sink that stays busy takes one more event
      // each time, which its queue in the worker bounds.
      this.#freeTimer = setTimeout(() => this.#freed(), BUSY_HOLD_MS);
      this.#freeTimer.unref();
    }
    return this.#free.promise;
  }

  #freed(): void {
    clearTimeout(this.#freeTimer);
    this.#freeTimer = undefined;
    const free = this.#free;
    this.#free = undefined;
    free?.resolve();
  }

  /** Whether the worker stopped (shut down or failed): events for its sinks are lost. */
  get stopped(): boolean {
    return this.#stopped !== undefined;
  }

  /** Posts a batch's JSON text (`urgent`: ack at once). */
  postEvents(text: string, urgent: boolean): void {
    if (this.#stopped !== undefined) return;
    this.#worker.postMessage({
      t: 'ev',
      j: text,
      ...(urgent ? { a: true } : {}),
    } satisfies ToWorker);
  }

  #request(
    message: ToWorker & { id: number },
    timeoutMs: number,
  ): Promise<FromWorker & { t: 'reply' }> {
    if (this.#stopped !== undefined)
      return Promise.resolve({ t: 'reply', id: message.id, error: this.#stopped });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#outstanding.delete(message.id);
        if (this.#outstanding.size === 0) this.#worker.unref();
        resolve({ t: 'reply', id: message.id, error: 'the worker thread did not answer in time' });
      }, timeoutMs + ANSWER_GRACE_MS);
      timer.unref();
      this.#outstanding.set(message.id, { resolve, timer });
      // Referenced while an answer is awaited: a flush on the way out keeps the process up.
      this.#worker.ref();
      this.#worker.postMessage(message);
    });
  }

  static #report(reply: FromWorker & { t: 'reply' }): WorkerFinishReport {
    if (reply.report) return reply.report;
    return { ok: false, sinks: [], ...(reply.error ? { error: reply.error } : {}) };
  }

  /** Flushes the worker (one request for the stand-ins that flush together). */
  flush(timeoutMs: number): Promise<WorkerFinishReport> {
    // Shut down on purpose: nothing is left to flush.
    if (this.#stopped === SHUT_DOWN) return Promise.resolve({ ok: true, sinks: [] });
    this.#poster.post();
    const posted = this.#poster.posted;
    if (this.#flush && this.#flush.posted === posted) return this.#flush.promise;
    const id = this.#nextId++;
    const promise = this.#request({ t: 'flush', id, timeoutMs }, timeoutMs).then((reply) => {
      if (this.#flush?.promise === promise) this.#flush = undefined;
      if (reply.error !== undefined) throw new Error(reply.error);
      return WorkerLink.#report(reply);
    });
    this.#flush = { posted, promise };
    return promise;
  }

  /**
   * Shuts a sink down in the worker. Stand-ins shutting down together (the coordinator's
   * shutdown) share one request; when the last one closes, the worker ends.
   */
  shutdown(name: string, timeoutMs: number): Promise<WorkerFinishReport> {
    this.#poster.post();
    if (!this.#open.delete(name) && !this.#closing) return Promise.resolve({ ok: true, sinks: [] });
    if (this.#closing) {
      this.#closing.names.push(name);
      return this.#closing.promise;
    }
    const closing = {
      names: [name],
      timeoutMs,
      promise: undefined as unknown as Promise<WorkerFinishReport>,
    };
    // The names of every stand-in that shuts down in this turn go in one request.
    closing.promise = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      this.#closing = undefined;
      const last = this.#open.size === 0;
      const id = this.#nextId++;
      const reply = await this.#request(
        { t: 'shutdown', id, timeoutMs: closing.timeoutMs, names: closing.names },
        closing.timeoutMs,
      );
      if (last) {
        if (this.#stopped === undefined) {
          this.#stopped = SHUT_DOWN;
          this.#stoppedAt = new Date().toISOString();
        }
        void this.#worker.terminate().catch(() => undefined);
      }
      if (reply.error !== undefined) throw new Error(reply.error);
      return WorkerLink.#report(reply);
    });
    this.#closing = closing;
    return closing.promise;
  }

  async check(name: string): Promise<SinkCheckResult> {
    const id = this.#nextId++;
    const reply = await this.#request({ t: 'check', id, name }, 30_000);
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.check as SinkCheckResult;
  }

  /**
   * Events for the sink (`index` here, bit index `sink`) lost with the worker: those that
   * arrived after it stopped, and — once it stopped — those it had been handed but had not
   * delivered, failed or dropped by its last report (in flight, queued, or never posted).
   */
  #lost(index: number, sink: number): number {
    const afterStop = this.#poster.afterStop[sink] ?? 0;
    if (this.#stopped === undefined) return afterStop;
    return afterStop + this.#unsettled(index, sink);
  }

  /** Events handed over for the sink that the worker has not reported settled. */
  #unsettled(index: number, sink: number): number {
    const w = this.#statuses[index]?.counters;
    const settled = w ? w.delivered + w.failed + w.dropped + w.sampledOut : 0;
    return Math.max(0, (this.#poster.pushed[sink] ?? 0) - settled);
  }

  /**
   * The sink's delivery counters as `flush()`/`shutdown()` report them: the worker's (the
   * coordinator there calls the sink), plus what never reached it — events this thread's
   * lane dropped or sampled out, and events lost with a stopped worker (counted as dropped).
   * Events handed over but not yet settled in the worker are pending.
   */
  counters(index: number, sink: number, handOver: SinkCounters): SinkCounters {
    const w = this.#statuses[index]?.counters;
    const lost = this.#lost(index, sink);
    const counters: SinkCounters = {
      delivered: w?.delivered ?? 0,
      failed: w?.failed ?? 0,
      dropped: handOver.dropped + (w?.dropped ?? 0) + lost,
      pending: handOver.pending + (this.#stopped === undefined ? this.#unsettled(index, sink) : 0),
      timedOut: w?.timedOut ?? 0,
      sampledOut: handOver.sampledOut + (w?.sampledOut ?? 0),
    };
    const stoppedWithLoss = this.#stopped !== undefined && this.#stopped !== SHUT_DOWN && lost > 0;
    const lastError = stoppedWithLoss ? this.#stopped : (w?.lastError ?? handOver.lastError);
    const lastErrorAt = stoppedWithLoss
      ? this.#stoppedAt
      : w?.lastError !== undefined
        ? w.lastErrorAt
        : handOver.lastErrorAt;
    if (lastError !== undefined) counters.lastError = lastError;
    if (lastErrorAt !== undefined) counters.lastErrorAt = lastErrorAt;
    return counters;
  }

  status(index: number, name: string, sink: number): SinkStatus {
    const last = this.#statuses[index];
    const { counters, ...rest } = last ?? { name, enabled: true, available: false, detail: '' };
    const lost = this.#lost(index, sink);
    const status: SinkStatus & Record<string, unknown> = {
      ...rest,
      name,
      thread: 'worker',
      ...(counters ? { worker: counters } : {}),
      // The sink's events lost with the worker (in flight when it stopped, or sent after).
      ...(lost > 0 ? { lost_after_stop: lost } : {}),
    };
    // A worker that failed stays reported, also once its stand-ins were shut down.
    if (this.#stopped !== undefined && (this.#stopped !== SHUT_DOWN || this.#open.has(name))) {
      status.available = false;
      status.detail = `${this.#stopped}${rest.detail ? ` (last: ${rest.detail})` : ''}`;
    }
    return status;
  }

  /** Stops the worker at once (a failed start). */
  terminate(): void {
    if (this.#stopped === undefined) {
      this.#stopped = 'terminated';
      this.#stoppedAt = new Date().toISOString();
    }
    void this.#worker.terminate().catch(() => undefined);
  }
}

function finishError(name: string, report: WorkerFinishReport, what: string): Error | undefined {
  const mine = report.sinks.find((s) => s.name === name);
  if (!mine) return report.ok ? undefined : new Error(`${what} in the worker thread failed`);
  if (mine.ok) return undefined;
  if (mine.error) return new Error(mine.error);
  if (mine.deadlineExceeded)
    return new Error(`${what} in the worker thread did not finish in time`);
  const lost = mine.failed + mine.dropped;
  return new Error(
    `${what} in the worker thread failed${lost ? ` (${lost} events failed or dropped)` : ''}`,
  );
}

/** The application thread's stand-in for a sink that lives in the worker. */
class WorkerSinkProxy implements RLMObservabilitySink, DeliversElsewhere {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  readonly local: boolean;
  readonly defaultSamplingRate?: number;
  onScore?: (runId: string, score: ScoreRecord) => Promise<void> | undefined;
  check?: () => Promise<SinkCheckResult>;
  readonly #link: WorkerLink;
  readonly #poster: EventPoster;
  readonly #index: number;
  readonly #bit: number;
  /** A stand-in for a sink that failed to load in the worker. */
  readonly #placeholder: boolean;

  /** `index`: the sink's place in its worker; `bit`: its bit in the batch entries' masks. */
  constructor(
    link: WorkerLink,
    poster: EventPoster,
    index: number,
    bit: number,
    info: WorkerSinkInfo,
  ) {
    this.#link = link;
    this.#poster = poster;
    this.#index = index;
    this.#bit = bit;
    this.name = info.name;
    this.local = info.local;
    if (info.defaultSamplingRate !== undefined) this.defaultSamplingRate = info.defaultSamplingRate;
    if (info.scores) this.onScore = (runId, score) => poster.push(link, 3, runId, score, this.#bit);
    if (info.check) this.check = () => link.check(this.name);
    // A placeholder in the worker (its package failed to load): the coordinator here sends
    // it nothing either.
    this.#placeholder = info.placeholder === true;
    if (this.#placeholder) (this as { [PLACEHOLDER_SINK]?: true })[PLACEHOLDER_SINK] = true;
  }

  status(): SinkStatus {
    return this.#link.status(this.#index, this.name, 31 - Math.clz32(this.#bit));
  }

  /** What `flush()`/`shutdown()` report: the worker's counters, not the hand-over. */
  [DELIVERY_COUNTERS](handOver: SinkCounters): SinkCounters {
    return this.#link.counters(this.#index, 31 - Math.clz32(this.#bit), handOver);
  }

  onRunStart(runId: string, start: RunStart): Promise<void> | undefined {
    return this.#poster.push(this.#link, 0, runId, start, this.#bit);
  }

  onStep(runId: string, step: StepRecord): Promise<void> | undefined {
    return this.#poster.push(this.#link, 1, runId, step, this.#bit);
  }

  onRunEnd(runId: string, end: RunEnd): Promise<void> | undefined {
    return this.#poster.push(this.#link, 2, runId, end, this.#bit);
  }

  async forceFlush(options?: SinkFinishOptions): Promise<void> {
    // A placeholder has nothing to flush; the coordinator here reports why it is missing.
    if (this.#placeholder) return;
    const report = await this.#link.flush(options?.timeoutMs ?? 5_000);
    const error = finishError(this.name, report, 'flush');
    if (error) throw error;
  }

  async shutdown(options?: SinkFinishOptions): Promise<void> {
    // Even a placeholder closes its place in the worker (the last one ends the thread).
    const report = await this.#link.shutdown(this.name, options?.timeoutMs ?? 5_000);
    const error = finishError(this.name, report, 'shutdown');
    if (error && !this.#placeholder) throw error;
  }
}

/**
 * Creates sinks in one worker thread and returns their stand-ins, in the order of `specs`,
 * to add to a coordinator (or list in `withSinks`). Rejects with {@link RlmObsConfigError}
 * when a sink cannot be created (nothing is left running then).
 *
 * @example
 * ```ts
 * const remote = await createWorkerSinks([
 *   { use: 'otel', options: { endpoint: 'http://localhost:4318' } },
 *   { use: 'langfuse' },
 * ]);
 * const obs = RLMObservability.withSinks([createJsonlSink(), ...remote]);
 * ```
 */
export async function createWorkerSinks(
  specs: readonly WorkerSinkSpec[],
  options: WorkerSinksOptions = {},
): Promise<RLMObservabilitySink[]> {
  if (specs.length === 0) return [];
  if (specs.length > MAX_SINKS)
    throw new RangeError(`the sink workers take at most ${MAX_SINKS} sinks (got ${specs.length})`);
  const env = options.env ?? process.env;
  const keys = options.keys ?? specs.map((_, i) => `sinks[${i}]`);
  const threads = Math.max(1, Math.min(specs.length, Math.trunc(options.threads ?? 1) || 1));
  // The sinks in turn, in consecutive groups (the first threads take one more when they do
  // not divide evenly): sinks listed together — often built on the same SDK — share a heap.
  const groups = Array.from({ length: threads }, (_, t) => {
    const from = Math.ceil((t * specs.length) / threads);
    const to = Math.ceil(((t + 1) * specs.length) / threads);
    return Array.from({ length: to - from }, (_, i) => from + i);
  });
  // What the worker reports is scrubbed there; the thread's own failures are scrubbed here.
  const redactor = createRedactor({ env });
  for (const spec of specs) rememberOptionSecrets(redactor, spec.options);
  const poster = new EventPoster(options);
  const links = groups.map((group) => {
    const init: WorkerInit = {
      specs: group.map((i) => {
        const spec = specs[i]!;
        return {
          use: spec.use,
          ...(spec.options !== undefined ? { options: spec.options } : {}),
          ...(spec.fromEnv ? { fromEnv: true } : {}),
          ...(spec.fromEnv && spec.fallbackName !== undefined
            ? { fallbackName: spec.fallbackName }
            : {}),
        };
      }),
      bitOffset: group[0]!,
      // A sink more than the in-flight bound behind in the worker holds its next events here.
      busyAt: Math.max(1, options.maxInFlight ?? 2_000),
      configDir: options.configDir ?? process.cwd(),
      configFile: options.configFile,
      keys: group.map((i) => keys[i] ?? `sinks[${i}]`),
      fallbackDirs: options.fallbackDirs ?? [],
      env: { ...env },
      maxQueueSize: options.maxQueueSize,
      callTimeoutMs: options.callTimeoutMs,
      statusIntervalMs: Math.max(50, options.statusIntervalMs ?? 500),
      nice: Math.max(0, Math.min(19, Math.trunc(options.nice ?? 10))),
      warmUpMs: Math.max(0, options.warmUpMs ?? 0),
      youngGenerationMb: Math.max(0, options.youngGenerationMb ?? DEFAULT_YOUNG_GENERATION_MB),
    };
    return new WorkerLink(init, poster, options.logger ?? stderrLogger, redactor.scrub);
  });
  poster.links = links;
  const startMs = options.startTimeoutMs ?? 60_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const infos = await Promise.race([
      Promise.all(links.map((link) => link.started)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the sink worker did not start within ${startMs} ms`)),
          startMs,
        );
      }),
    ]);
    const proxies: RLMObservabilitySink[] = new Array(specs.length);
    groups.forEach((group, t) => {
      group.forEach((specIndex, i) => {
        proxies[specIndex] = new WorkerSinkProxy(
          links[t]!,
          poster,
          i,
          1 << specIndex,
          infos[t]![i]!,
        );
      });
    });
    return proxies;
  } catch (error) {
    for (const link of links) link.terminate();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
