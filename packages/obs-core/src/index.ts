/**
 * @rlm/obs-core — the sink contract, the coordinator, the run API and the helpers every sink
 * needs. See README.md for a tour.
 */

export type { CompositeChildStatus, CompositeSinkOptions } from './composite-sink.js';
export { CompositeSink } from './composite-sink.js';
export type {
  JsonObject,
  JsonValue,
  RLMObservabilitySink,
  RunEnd,
  RunResult,
  RunStart,
  SinkHook,
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
} from './coordinator.js';
export { isSinkLike, RLMObservability } from './coordinator.js';
export type { DiagnosticLogger } from './diagnostics.js';
export { silentLogger, stderrLogger } from './diagnostics.js';
export type { TraceContext } from './ids.js';
export {
  formatTraceparent,
  newRunId,
  parseTraceparent,
  spanIdFromRunId,
  traceIdFromRunId,
} from './ids.js';
export type { RedactOptions, Redactor } from './redact.js';
export { createRedactor } from './redact.js';
export type { EndRunOptions, StartRunOptions } from './run.js';
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
