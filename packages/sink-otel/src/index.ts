/**
 * @rlm/sink-otel — OpenTelemetry traces and metrics over OTLP for rlm-obs (seed 004), on
 * private providers that never touch the host's global OpenTelemetry.
 */
import { envFlag, type SinkContext } from '@rlm/obs-core';
import type { OtlpProtocol } from '@rlm/otel-common';
import { OpenTelemetrySink, type OtelSinkOptions } from './otel-sink.js';

export type { OtlpProtocol } from '@rlm/otel-common';
export { signalUrl } from '@rlm/otel-common';
export type { OtelSinkOptions } from './otel-sink.js';
export { OpenTelemetrySink } from './otel-sink.js';

/** `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,key2=value2` (values URL-decoded). */
export function parseOtlpHeaders(value: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (value ?? '').split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    try {
      headers[decodeURIComponent(pair.slice(0, i).trim())] = decodeURIComponent(
        pair.slice(i + 1).trim(),
      );
    } catch {
      headers[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
    }
  }
  return headers;
}

/**
 * The sink as the seed's environment configures it (`create_otel_sink_from_env`):
 * `DSPY_RLM_OTEL_ENABLED` (default false), `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`
 * (default `rlm-code`), `DSPY_RLM_OTEL_METRICS_ENABLED` (default true), plus
 * `OTEL_EXPORTER_OTLP_PROTOCOL` and `OTEL_EXPORTER_OTLP_HEADERS`.
 */
export function createOtelSinkFromEnv(
  env: Record<string, string | undefined> = process.env,
  options: OtelSinkOptions = {},
): OpenTelemetrySink {
  const protocol = env.OTEL_EXPORTER_OTLP_PROTOCOL === 'http/protobuf' ? 'http/protobuf' : 'grpc';
  const headers = parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS);
  return new OpenTelemetrySink({
    enabled: envFlag(env.DSPY_RLM_OBS_ENABLED, true) && envFlag(env.DSPY_RLM_OTEL_ENABLED, false),
    serviceName: env.OTEL_SERVICE_NAME || 'rlm-code',
    metricsEnabled: envFlag(env.DSPY_RLM_OTEL_METRICS_ENABLED, true),
    protocol: protocol as OtlpProtocol,
    ...(env.OTEL_EXPORTER_OTLP_ENDPOINT ? { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...options,
  });
}

/** The sink package contract: listed in a config as `'otel'`. */
export function createSink(
  options: OtelSinkOptions = {},
  _context?: SinkContext,
): OpenTelemetrySink {
  return new OpenTelemetrySink(options);
}

/** The sink package contract: activation from the seed's environment variables. */
export function fromEnv(env: Record<string, string | undefined> = process.env): OpenTelemetrySink {
  return createOtelSinkFromEnv(env);
}

export default createSink;
