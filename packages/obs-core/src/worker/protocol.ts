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
}

export interface WorkerInit {
  specs: WorkerSinkSpec[];
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
  /** How long after the first events the worker flushes once to warm up (0: never). */
  warmUpMs: number;
}

/** What the worker knows about each sink it created. */
export interface WorkerSinkInfo {
  name: string;
  local: boolean;
  defaultSamplingRate: number | undefined;
  scores: boolean;
  check: boolean;
}

export type FromWorker =
  | { t: 'ready'; sinks: WorkerSinkInfo[]; status: ObservedSinkStatus[] }
  | { t: 'init-error'; message: string; file: string | undefined; key: string | undefined }
  | { t: 'ack'; n: number }
  | { t: 'status'; status: ObservedSinkStatus[] }
  | { t: 'log'; message: string }
  | { t: 'reply'; id: number; report?: WorkerFinishReport; check?: unknown; error?: string };

export interface WorkerFinishReport {
  ok: boolean;
  error?: string;
  sinks: SinkFlushResult[];
}

export type ToWorker =
  /** Events: the JSON text of `[hook code, run id, payload, sink mask, ...]`; `a`: ack at once. */
  | { t: 'ev'; j: string; a?: boolean }
  | { t: 'flush'; id: number; timeoutMs: number }
  | { t: 'shutdown'; id: number; timeoutMs: number; names: string[] }
  | { t: 'check'; id: number; name: string };
