/**
 * The config file's shape (DESIGN.md section 5) and the sink package contract.
 */
import type { RLMObservabilitySink } from '../contract.js';
import type { DiagnosticLogger } from '../diagnostics.js';
import type { RedactOptions } from '../redact.js';
import type { SanitizeLimits } from '../sanitize.js';

/**
 * The Standard Schema interface (https://standardschema.dev), copied as its authors intend,
 * so sink authors can describe options with zod, valibot, arktype or by hand.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** The result of a Standard Schema validation. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
      readonly issues: ReadonlyArray<{
        readonly message: string;
        readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
      }>;
    };

/** What a sink factory receives besides its options. */
export interface SinkContext {
  /** The directory of the config file (or the working directory without one). */
  configDir: string;
  /** The environment the config was loaded with. */
  env: Record<string, string | undefined>;
  /** For the sink's own warnings. */
  logger: DiagnosticLogger;
  /**
   * Directories to resolve sink packages from when `configDir` has none (a tool such as the
   * CLI passes its own, so the packages it ships with are always found).
   */
  fallbackDirs?: string[];
}

/** A sink factory: may be async, may throw with a clear message. */
export type SinkFactory<Options = any> = (
  options: Options,
  context: SinkContext,
) => RLMObservabilitySink | Promise<RLMObservabilitySink>;

/**
 * What a sink package exports: `createSink` (also as the default export), optionally an
 * `optionsSchema` and `fromEnv`. Its package.json carries the keyword `rlm-obs-sink`.
 */
export interface SinkModule<Options = any> {
  createSink?: SinkFactory<Options>;
  default?: SinkFactory<Options> | { createSink?: SinkFactory<Options> };
  optionsSchema?: StandardSchemaV1<unknown, Options>;
  fromEnv?: (
    env: Record<string, string | undefined>,
    context: SinkContext,
  ) => RLMObservabilitySink | Promise<RLMObservabilitySink>;
}

/** One entry of `sinks`. Falsy entries are skipped, so a sink can be toggled inline. */
export type SinkEntry =
  | string
  | readonly [string, Record<string, unknown>?]
  | {
      /** A package name, short name or path — or an imported factory, module or sink. */
      use: string | SinkFactory | SinkModule | RLMObservabilitySink;
      options?: Record<string, unknown>;
      /**
       * Create this sink in the sink worker thread (`true`) or in the application's thread
       * (`false`), overriding the top-level `worker`. Needs `use` to be a name or path and
       * `options` to be plain data.
       */
      worker?: boolean;
    }
  | SinkFactory
  | RLMObservabilitySink
  | false
  | null
  | undefined
  | 0
  | '';

/** The config file. Every field is optional. */
export interface RlmObsConfig {
  /** The master switch. @defaultValue `true` (env `DSPY_RLM_OBS_ENABLED`) */
  enabled?: boolean;
  /** The sinks, in delivery order. @defaultValue `['jsonl']` */
  sinks?: SinkEntry[];
  /** Custom attributes added to every run. */
  attributes?: Record<string, unknown>;
  /**
   * Keep a share of runs, decided once per root run and inherited by its children; per-sink
   * rates by sink name. The local files keep every run unless named here.
   */
  sampling?: { rate?: number; sinks?: Record<string, number> };
  /** Redaction before any sink sees data; `false` turns it off. */
  redact?: RedactOptions | false;
  /**
   * `false` keeps code, outputs, task text and LLM messages away from every remote sink
   * (sizes kept); `{ inputs: false }` or `{ outputs: false }` for one side. @defaultValue `true`
   */
  recordContent?: boolean | { inputs?: boolean; outputs?: boolean };
  /** Price usage without a cost from the bundled price table. @defaultValue `true` */
  pricing?: boolean;
  /** The global size caps, applied once before any sink. */
  truncate?: SanitizeLimits;
  /** Per-sink queue bound and per-call timeout. */
  queue?: { maxQueueSize?: number; callTimeoutMs?: number };
  /**
   * Run sinks in one worker thread, so that their work (building spans and runs, encoding,
   * compressing, HTTP) does not take the agent's thread: each hook there only appends the
   * prepared event to a batch. `true`: every sink given by name or path except the local
   * files (`jsonl`, which writes synchronously on `process.exit()`); a list: the sinks with
   * these names (as written in `sinks`); an object also tunes the worker (see
   * `createWorkerSinks`). Sinks given as objects or factories stay in the application's
   * thread. @defaultValue `false`
   */
  worker?: boolean | string[] | WorkerConfig;
  /**
   * Exit behaviour: the automatic flush's deadline, opt-in: how long sink work left after it
   * may keep the process alive before it is ended (`graceMs`, see `exitGraceMs`; off by
   * default), and opt-in signal handling.
   */
  exit?: {
    flushOnExit?: boolean;
    timeoutMs?: number;
    graceMs?: number | false;
    handleSignals?: boolean | NodeJS.Signals[];
  };
}

/** The `worker` section of the config. */
export interface WorkerConfig {
  /** Which sinks go to the worker (names as written in `sinks`). @defaultValue every remote sink */
  sinks?: string[];
  /**
   * Worker threads that share those sinks (each sink in one, consecutive sinks together; see
   * `createWorkerSinks`): `2` puts the work of several remote sinks on two cores, at the
   * cost of another JavaScript heap. @defaultValue `1`
   */
  threads?: number;
  /** How long events wait to be posted with the ones that follow. @defaultValue `50` */
  postDelayMs?: number;
  /** Events posted but not yet taken by the worker before the coordinator queues. @defaultValue `2000` */
  maxInFlight?: number;
  /** How much lower the worker's CPU priority is (Linux nice steps, 0..19). @defaultValue `10` */
  nice?: number;
  /** Flush once this long after the first events, to warm the sinks up (`0`: never). @defaultValue `0` */
  warmUpMs?: number;
  /** The young generation of the worker's heap in MB (`0`: V8's default). @defaultValue `96` */
  youngGenerationMb?: number;
}

/**
 * Types a config file.
 *
 * @example
 * ```ts
 * // rlm-obs.config.ts
 * import { defineConfig } from '@rlm/obs-core';
 * export default defineConfig({
 *   sinks: ['jsonl', ['otel', { endpoint: 'http://localhost:4317' }]],
 *   attributes: { team: 'ml-platform' },
 * });
 * ```
 */
export function defineConfig(config: RlmObsConfig): RlmObsConfig {
  return config;
}
