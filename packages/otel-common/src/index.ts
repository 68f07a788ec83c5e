/**
 * @rlm/otel-common — the OpenTelemetry plumbing the OTLP-based rlm-obs sinks share (one
 * copy, not one per sink): private tracing, deterministic ids, OTLP exporters that count.
 */

export type { AuthFailure, ExportCounters, ExporterSettings, OtlpProtocol } from './exporters.js';
export {
  authFailureOf,
  CountingMetricExporter,
  CountingSpanExporter,
  createMetricExporter,
  createSpanExporter,
  ExportAuth,
  signalUrl,
} from './exporters.js';
export { RunIdGenerator } from './ids.js';
export type { PrivateTracingOptions, SpanCounters } from './private-tracing.js';
export { PrivateTracing } from './private-tracing.js';
export type { Scrub, SecretScrubberOptions } from './secrets.js';
export { grpcHeadersProblem, secretScrubber } from './secrets.js';
export type { RunIdentity, ScoreFields } from './values.js';
export {
  customAttributes,
  DEFAULT_MAX_OPEN_RUNS,
  derivedRunContext,
  HookGuard,
  holdRun,
  identityAttributes,
  impliedStart,
  isObject,
  num,
  readScore,
  remember,
  runIdentity,
  runParentContext,
  StepSequence,
  safeEndpoint,
  scoreAttributes,
  scoreSpanId,
  str,
  timeOf,
} from './values.js';
