/**
 * @rlm/obs-core — the sink contract, the coordinator, the run API and the helpers every sink
 * needs. See README.md for a tour.
 */

export type { AuthCooldownOptions } from './auth-cooldown.js';
export { AuthCooldown, isAuthFailure } from './auth-cooldown.js';
export type { CompositeChildStatus, CompositeSinkOptions } from './composite-sink.js';
export { CompositeSink } from './composite-sink.js';
export { RlmObsConfigError } from './config/config-error.js';
export type { SeedSink } from './config/env-activation.js';
export { envFlag, SEED_SINKS } from './config/env-activation.js';
export type { LoadConfigOptions, LoadedConfig } from './config/load-config.js';
export { CONFIG_KEYS, CONFIG_SEARCH_PLACES, loadConfig } from './config/load-config.js';
export type { LoadedObservability, LoadObservabilityOptions } from './config/load-observability.js';
export { loadObservability, loadObservabilityDetailed } from './config/load-observability.js';
export type { OptionKind, OptionSpec, OptionsShape } from './config/options-schema.js';
export {
  AUTH_COOLDOWN_OPTIONS,
  defineOptionsSchema,
  describeValue,
} from './config/options-schema.js';
export { createPlaceholderSink, isPlaceholderSink } from './config/placeholder-sink.js';
export { resolveSinkEntry, resolveSinkModule, sinkCandidates } from './config/resolve-sink.js';
export type {
  RlmObsConfig,
  SinkContext,
  SinkEntry,
  SinkFactory,
  SinkModule,
  StandardSchemaResult,
  StandardSchemaV1,
  WorkerConfig,
} from './config/types.js';
export { defineConfig } from './config/types.js';
export type { ContentPolicy, RecordContent } from './content.js';
export { contentPolicy, omitted } from './content.js';
export type {
  JsonObject,
  JsonValue,
  RLMObservabilitySink,
  RunEnd,
  RunResult,
  RunStart,
  ScoreRecord,
  SinkCheckResult,
  SinkFinishOptions,
  SinkHook,
  SinkProblem,
  SinkSpecificationVersion,
  SinkStatus,
  StepAction,
  StepCache,
  StepEvent,
  StepObservation,
  StepRecord,
  StepUsage,
} from './contract.js';
export { SINK_SPECIFICATION_VERSION } from './contract.js';
export type {
  CoordinatorStats,
  FlushOptions,
  FlushReport,
  ObservabilityOptions,
  ObservedSinkStatus,
  SamplingOptions,
} from './coordinator.js';
export { isSinkLike, RLMObservability } from './coordinator.js';
export { DeferredHooks } from './deferred-hooks.js';
export type { DiagnosticLogger } from './diagnostics.js';
export { errorText, silentLogger, stderrLogger } from './diagnostics.js';
export type { TraceContext } from './ids.js';
export {
  formatTraceparent,
  newRunId,
  parseTraceparent,
  spanIdFromRunId,
  traceIdFromRunId,
} from './ids.js';
export type { ContentLimits } from './limits.js';
export { contentLimitsOptions, readContentLimits } from './limits.js';
export {
  assignOwn,
  epochMs,
  finiteNumber,
  isRecord,
  safeUrl,
  stringValue,
} from './payload.js';
export type { ModelRates } from './pricing.js';
export { modelRates, preloadPrices, priceStepUsage, priceUsage } from './pricing.js';
export { holdWhilePending, READY_WAIT_MS, readyOrLater } from './ready.js';
export type { RedactOptions, Redactor } from './redact.js';
export { createRedactor } from './redact.js';
export type { EndRunOptions, ScoreOptions, StartRunOptions } from './run.js';
export { Run } from './run.js';
export type { SanitizeLimits, Sanitizer } from './sanitize.js';
export {
  createSanitizer,
  defaultSanitizer,
  safeStringify,
  truncate,
  truncationMarker,
} from './sanitize.js';
export type { SinkCounters, SinkFlushResult } from './sink-channel.js';
export type { NormalizedUsage } from './usage.js';
export { normalizeUsage, stepUsages } from './usage.js';
export type { WorkerSinkSpec, WorkerSinksOptions } from './worker/worker-sinks.js';
export { createWorkerSinks } from './worker/worker-sinks.js';
