/**
 * @rlm/sink-otel — OpenTelemetry traces and metrics over OTLP for rlm-obs (seed 004), on
 * private providers that never touch the host's global OpenTelemetry.
 */
import { envFlag, type SinkContext } from '@rlm/obs-core';
import type { OtlpProtocol } from '@rlm/otel-common';
import { OpenTelemetrySink, type OtelSinkOptions } from './otel-sink.js';

export type { OtlpProtocol } from '@rlm/otel-common';
export { signalUrl } from '@rlm/otel-common';
export { optionsSchema } from './options.js';
export type { OtelSinkLimits, OtelSinkOptions } from './otel-sink.js';
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
 * The settings the OTel environment variables give: `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL` (a value other than `grpc` or `http/protobuf` is kept, and
 * makes the sink unavailable with a detail that says so, rather than exporting with another
 * protocol), `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_SERVICE_NAME`.
 */
function otlpEnvOptions(env: Record<string, string | undefined>): OtelSinkOptions {
  const protocol = env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim();
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const serviceName = env.OTEL_SERVICE_NAME?.trim();
  const headers = parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS);
  return {
    ...(protocol ? { protocol: protocol as OtlpProtocol } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(serviceName ? { serviceName } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  };
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
  return new OpenTelemetrySink({
    enabled: envFlag(env.DSPY_RLM_OBS_ENABLED, true) && envFlag(env.DSPY_RLM_OTEL_ENABLED, false),
    serviceName: 'rlm-code',
    metricsEnabled: envFlag(env.DSPY_RLM_OTEL_METRICS_ENABLED, true),
    ...otlpEnvOptions(env),
    ...options,
  });
}

/**
 * The sink package contract: listed in a config as `'otel'`. The OTel environment variables
 * of the context give the defaults, as for `createOtelSinkFromEnv`; the options win. The
 * destination goes as one: without an `endpoint` option, `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL` and `OTEL_EXPORTER_OTLP_HEADERS` apply together; with one,
 * none of them does (the application's own OTLP protocol and credentials are not sent to
 * another endpoint). `OTEL_SERVICE_NAME` and `DSPY_RLM_OTEL_METRICS_ENABLED` apply either way.
 * Listing the sink enables it (`DSPY_RLM_OTEL_ENABLED` is not needed).
 */
export function createSink(
  options: OtelSinkOptions = {},
  context?: Partial<SinkContext>,
): OpenTelemetrySink {
  const env = context?.env ?? process.env;
  const fromEnv = otlpEnvOptions(env);
  const own = options.endpoint !== undefined;
  return new OpenTelemetrySink({
    metricsEnabled: envFlag(env.DSPY_RLM_OTEL_METRICS_ENABLED, true),
    ...(fromEnv.serviceName ? { serviceName: fromEnv.serviceName } : {}),
    ...(own
      ? {}
      : {
          ...(fromEnv.endpoint ? { endpoint: fromEnv.endpoint } : {}),
          ...(fromEnv.protocol ? { protocol: fromEnv.protocol } : {}),
          ...(fromEnv.headers ? { headers: fromEnv.headers } : {}),
        }),
    ...options,
  });
}

/** The sink package contract: activation from the seed's environment variables. */
export function fromEnv(env: Record<string, string | undefined> = process.env): OpenTelemetrySink {
  return createOtelSinkFromEnv(env);
}

export default createSink;
