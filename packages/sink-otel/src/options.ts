/**
 * The `opentelemetry` sink's options: the schema the config loader checks them with, and the
 * checks the sink itself makes (a wrong value makes the sink unavailable with a detail that
 * names the option, instead of dropping every span or exporting with another protocol).
 */
import {
  AUTH_COOLDOWN_OPTIONS,
  contentLimitsOptions,
  defineOptionsSchema,
  readContentLimits,
} from '@rlm/obs-core';
import type { OtlpProtocol } from '@rlm/otel-common';
import type { OtelSinkOptions } from './otel-sink.js';

/** The OTLP transports the sink exports with. */
export const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ['grpc', 'http/protobuf'];

type Check = (value: unknown) => string | undefined;

/** A value as a message shows it: numbers as they are, short protocol-like words, else a kind. */
function shown(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return /^[\w./+-]{1,30}$/.test(value) ? `'${value}'` : 'a string';
  if (value === null) return 'null';
  return Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : typeof value;
}

const wholePositive: Check = (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v > 0
    ? undefined
    : `must be a whole number > 0 (got ${shown(v)})`;

const positiveMs: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0
    ? undefined
    : `must be a number of milliseconds > 0 (got ${shown(v)})`;

const nonNegativeMs: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0
    ? undefined
    : `must be a number of milliseconds >= 0 (got ${shown(v)})`;

const protocol: Check = (v) =>
  (OTLP_PROTOCOLS as readonly unknown[]).includes(v)
    ? undefined
    : `must be ${OTLP_PROTOCOLS.map((p) => `'${p}'`).join(' or ')} (got ${shown(v)}${v === 'http/json' ? ': OTLP over http/json is not supported, use http/protobuf' : ''})`;

/** The checks of the options whose wrong values would break exports quietly. */
const VALUE_CHECKS: ReadonlyArray<[keyof OtelSinkOptions, Check]> = [
  ['protocol', protocol],
  ['maxQueueSize', wholePositive],
  ['maxExportBatchSize', wholePositive],
  ['maxOpenRuns', wholePositive],
  ['exportTimeoutMs', positiveMs],
  ['scheduledDelayMs', nonNegativeMs],
  ['metricExportIntervalMs', positiveMs],
];

/**
 * The seed's limits: task 500, text (code, output, final answer, score comments) 1000, error
 * 200 characters.
 */
export const DEFAULT_LIMITS = { task: 500, text: 1000, error: 200 } as const;

/** What is wrong with a `limits` option, naming the key (`undefined` when nothing is). */
function limitsProblem(limits: unknown): string | undefined {
  const read = readContentLimits(DEFAULT_LIMITS, limits);
  return 'problem' in read ? read.problem : undefined;
}

/** A scheme at the start of an endpoint (`http://`, `https://`, `unix://`). */
const SCHEME = /^[a-z][\w+.-]*:\/\//i;

/** Whether the endpoint starts with a scheme. */
export function hasScheme(endpoint: string): boolean {
  return SCHEME.test(endpoint);
}

/** An endpoint for messages: without credentials, query or fragment, scheme or not. */
export function shownEndpoint(endpoint: string): string {
  return endpoint
    .trim()
    .replace(/^([a-z][\w+.-]*:\/\/)?[^@/]*@/i, '$1')
    .replace(/[?#].*$/, '');
}

/**
 * What is wrong with the options, naming the option and what it accepts (`undefined` when
 * nothing is). Also the endpoint for http/protobuf, which needs `http://` or `https://`.
 */
export function optionsProblem(options: OtelSinkOptions, endpoint: string): string | undefined {
  for (const [key, check] of VALUE_CHECKS) {
    const value = options[key];
    if (value === undefined) continue;
    const problem = check(value);
    if (problem) {
      const env = key === 'protocol' ? ' (the option or OTEL_EXPORTER_OTLP_PROTOCOL)' : '';
      return `${key}${env} ${problem}`;
    }
  }
  if (options.limits !== undefined) {
    const problem = limitsProblem(options.limits);
    if (problem) return problem;
  }
  if (typeof endpoint !== 'string' || endpoint.trim() === '')
    return 'endpoint must be a non-empty URL like http://localhost:4317';
  const url = endpoint.trim();
  if ((options.protocol ?? 'grpc') === 'http/protobuf') {
    if (!/^https?:\/\//i.test(url) || !URL.canParse(url))
      return `endpoint ${shownEndpoint(url)} must be a URL with http:// or https:// for http/protobuf (for example http://localhost:4318)`;
  } else if (!URL.canParse(hasScheme(url) ? url : `https://${url}`)) {
    return `endpoint ${shownEndpoint(url)} is not a URL like http://localhost:4317 (or host:port for gRPC over TLS)`;
  }
  return undefined;
}

/**
 * The sink's options as the config loader checks them: an unknown option (`endpointUrl`) or a
 * wrong value (`maxQueueSize: 0`, `protocol: 'http/json'`) is a config error naming the key.
 * Exporters and other objects from an `.mjs` config are accepted as they are.
 */
export const optionsSchema = defineOptionsSchema<OtelSinkOptions>({
  enabled: 'boolean',
  serviceName: 'string',
  endpoint: 'nonEmptyString',
  protocol,
  headers: 'stringRecord',
  metricsEnabled: 'boolean',
  resourceAttributes: 'object',
  exportTimeoutMs: positiveMs,
  maxQueueSize: wholePositive,
  maxExportBatchSize: wholePositive,
  scheduledDelayMs: nonNegativeMs,
  metricExportIntervalMs: positiveMs,
  maxOpenRuns: wholePositive,
  spanExporter: 'object',
  metricExporter: 'object',
  authCooldown: AUTH_COOLDOWN_OPTIONS,
  limits: contentLimitsOptions(DEFAULT_LIMITS),
  name: 'nonEmptyString',
});
