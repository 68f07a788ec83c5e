/**
 * The messages between {@link createWorkerSinks} (the application's thread) and the sink
 * worker (`sink-worker.js`). Internal: both ends ship in the same package version.
 */
import type { ObservedSinkStatus } from '../coordinator.js';
import type { SinkFlushResult } from '../sink-channel.js';

/** Hook codes in event batches. */
export const HOOKS = ['onRunStart', 'onStep', 'onRunEnd', 'onScore'] as const;

/** One sink to create in the worker. */
export interface WorkerSinkSpec {
  /** A package name, short name (`otel` → `@rlm/sink-otel`), path or `file:` URL. */
  use: string;
  /** The sink's options: plain data (they are copied to the worker thread). */
  options?: Record<string, unknown>;
  /**
   * Build the sink with the package's `fromEnv(env)` (environment activation, the seed's
   * variables) instead of `createSink(options)`.
   */
  fromEnv?: boolean;
  /**
   * With `fromEnv`: the sink's name for the placeholder that stands in when its package fails
   * to load or its `fromEnv` throws (environment activation never fails the load for that).
   * @internal
   */
  fallbackName?: string;
}

export interface WorkerInit {
  specs: WorkerSinkSpec[];
  /**
   * The bit of this worker's first sink in the batch entries' sink masks (the masks span
   * the sinks of every worker thread; this one's sinks have consecutive bits).
   */
  bitOffset: number;
  /** Where names and relative paths resolve from, plus the config file for messages. */
  configDir: string;
  configFile: string | undefined;
  /** The `sinks[i]` key of each spec, for error messages. */
  keys: string[];
  fallbackDirs: string[];
  env: Record<string, string | undefined>;
  maxQueueSize: number | undefined;
  callTimeoutMs: number | undefined;
  statusIntervalMs: number;
  /** Added to the worker thread's nice value (Linux). */
  nice: number;
  /** A sink with this many events queued in the worker is busy (see the `ack` message). */
  busyAt: number;
  /** How long after the first events the worker flushes once to warm up (0: never). */
  warmUpMs: number;
  /** The worker heap's young generation bound in MB (`resourceLimits`; 0: V8's default). */
  youngGenerationMb: number;
}

/** What the worker knows about each sink it created. */
export interface WorkerSinkInfo {
  name: string;
  local: boolean;
  defaultSamplingRate: number | undefined;
  scores: boolean;
  check: boolean;
  /** A placeholder for a sink that failed to load (see `fallbackName`). */
  placeholder?: boolean;
}

export type FromWorker =
  | { t: 'ready'; sinks: WorkerSinkInfo[]; status: ObservedSinkStatus[] }
  | { t: 'init-error'; message: string; file: string | undefined; key: string | undefined }
  /**
   * `n` more batch entries taken; `b`: the sinks (bits of the batch masks) whose queue here
   * holds `busyAt` events or more — the application's thread holds their next events until
   * an ack clears the bit.
   */
  | { t: 'ack'; n: number; b: number }
  | { t: 'status'; status: ObservedSinkStatus[] }
  | { t: 'log'; message: string }
  | { t: 'reply'; id: number; report?: WorkerFinishReport; check?: unknown; error?: string };

export interface WorkerFinishReport {
  ok: boolean;
  error?: string;
  sinks: SinkFlushResult[];
}

export type ToWorker =
  /**
   * Events: the JSON text of `[hook code, run id, payload, sink mask, ...]` (the same text
   * for every worker thread: each takes the entries whose mask has bits of its sinks);
   * `a`: ack at once.
   */
  | { t: 'ev'; j: string; a?: boolean }
  | { t: 'flush'; id: number; timeoutMs: number }
  | { t: 'shutdown'; id: number; timeoutMs: number; names: string[] }
  | { t: 'check'; id: number; name: string };
