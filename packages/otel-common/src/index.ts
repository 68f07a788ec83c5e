/**
 * @rlm/otel-common — the OpenTelemetry plumbing the OTLP-based rlm-obs sinks share (one
 * copy, not one per sink): private tracing, deterministic ids, OTLP exporters that count.
 */

export type { ExportCounters, ExporterSettings, OtlpProtocol } from './exporters.js';
export {
  CountingMetricExporter,
  CountingSpanExporter,
  createMetricExporter,
  createSpanExporter,
  signalUrl,
} from './exporters.js';
export { RunIdGenerator } from './ids.js';
export type { PrivateTracingOptions, SpanCounters } from './private-tracing.js';
export { PrivateTracing } from './private-tracing.js';
export {
  customAttributes,
  DEFAULT_MAX_OPEN_RUNS,
  derivedRunContext,
  HookGuard,
  holdRun,
  impliedStart,
  isObject,
  num,
  runParentContext,
  safeEndpoint,
  str,
  timeOf,
} from './values.js';
