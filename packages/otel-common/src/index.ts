/**
 * @rlm/otel-common — the OpenTelemetry plumbing the OTLP-based rlm-obs sinks share (one
 * copy, not one per sink): private tracing, deterministic ids, OTLP exporters that count.
 * Only what every such sink needs: no gRPC and no metrics stack (those come with
 * `@rlm/sink-otel`, the one sink that uses them).
 */

export type {
  AuthFailure,
  ExportCounters,
  ExporterSettings,
  GrpcSpanExporterFactory,
  OtlpProtocol,
} from './exporters.js';
export {
  authFailureOf,
  CountingSpanExporter,
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
