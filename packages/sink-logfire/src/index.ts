/**
 * @rlm/sink-logfire — Pydantic Logfire for rlm-obs (seed 000), without taking over the host's
 * OpenTelemetry.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  AUTH_COOLDOWN_OPTIONS,
  contentLimitsOptions,
  defineOptionsSchema,
  envFlag,
  type OptionSpec,
  type SinkContext,
} from '@rlm/obs-core';
import { DEFAULT_LIMITS, LogfireSink, type LogfireSinkOptions } from './logfire-sink.js';

export type { LogfireLimits, LogfireSinkOptions, LogfireStats } from './logfire-sink.js';
export { baseUrlForToken, LEVELS, LogfireSink } from './logfire-sink.js';

/**
 * Reads the credentials `logfire auth`/`logfire projects use` leave in
 * `<dir>/.logfire/logfire_credentials.json` — only when asked, never by default.
 */
export function readLogfireCredentials(dir: string): {
  token?: string;
  projectName?: string;
  baseUrl?: string;
} {
  try {
    const file = path.join(dir, '.logfire', 'logfire_credentials.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as {
      token?: unknown;
      project_name?: unknown;
      logfire_api_url?: unknown;
    };
    return {
      ...(typeof data.token === 'string' ? { token: data.token } : {}),
      ...(typeof data.project_name === 'string' ? { projectName: data.project_name } : {}),
      ...(typeof data.logfire_api_url === 'string' ? { baseUrl: data.logfire_api_url } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * The sink as the seed's environment configures it (`create_logfire_sink_from_env`):
 * `DSPY_RLM_LOGFIRE_ENABLED` (default false), `LOGFIRE_TOKEN`, `LOGFIRE_PROJECT_NAME` (default
 * `rlm-code`), plus `LOGFIRE_BASE_URL`, `LOGFIRE_SERVICE_NAME` and `LOGFIRE_ENVIRONMENT`.
 */
export function createLogfireSinkFromEnv(
  env: Record<string, string | undefined> = process.env,
  options: LogfireSinkOptions = {},
): LogfireSink {
  return new LogfireSink({
    enabled:
      envFlag(env.DSPY_RLM_OBS_ENABLED, true) && envFlag(env.DSPY_RLM_LOGFIRE_ENABLED, false),
    projectName: env.LOGFIRE_PROJECT_NAME || 'rlm-code',
    ...(env.LOGFIRE_TOKEN ? { token: env.LOGFIRE_TOKEN } : {}),
    ...(env.LOGFIRE_BASE_URL ? { baseUrl: env.LOGFIRE_BASE_URL } : {}),
    ...(env.LOGFIRE_SERVICE_NAME ? { serviceName: env.LOGFIRE_SERVICE_NAME } : {}),
    ...(env.LOGFIRE_ENVIRONMENT ? { environment: env.LOGFIRE_ENVIRONMENT } : {}),
    ...options,
  });
}

/** Options of `createSink`: the sink's, plus reading `.logfire/` credentials when asked. */
export interface LogfireConfigOptions extends LogfireSinkOptions {
  /** Read `.logfire/logfire_credentials.json` from this directory (relative to the config). */
  credentialsDir?: string;
}

/**
 * The sink package contract: the options a config may give (`rlm-obs.config.*`), so an
 * unknown option (`projectname` for `projectName`) or a wrong type is a config error naming
 * the key (`sinks[0].options.projectname`). Every option of {@link LogfireConfigOptions} and
 * no other (checked by the compiler); `spanExporter` and the cooldown's `now`/`random` are
 * objects and functions a `.mjs` or `.ts` config may pass.
 */
export const optionsSchema = defineOptionsSchema<LogfireConfigOptions>({
  enabled: 'boolean',
  // A string, an empty one too: `${LOGFIRE_TOKEN:-}` with the variable unset gives '' and the
  // sink says so (available: false, no token). A bare `${LOGFIRE_TOKEN}` that is not set is a
  // config load error naming the variable (core's interpolation), before any sink is made.
  token: 'string',
  projectName: 'string',
  baseUrl: 'string',
  serviceName: 'string',
  environment: 'string',
  useGlobalProvider: 'boolean',
  tags: 'stringArray',
  exportTimeoutMs: 'finitePositiveNumber',
  maxQueueSize: (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= 1
      ? undefined
      : 'must be a whole number >= 1',
  scheduledDelayMs: (value) =>
    typeof value === 'number' && Number.isFinite(value) && value >= 0
      ? undefined
      : 'must be a finite number >= 0',
  spanExporter: 'object',
  maxOpenRuns: 'positiveNumber',
  authCooldown: AUTH_COOLDOWN_OPTIONS,
  name: 'nonEmptyString',
  credentialsDir: 'nonEmptyString',
  limits: contentLimitsOptions(DEFAULT_LIMITS),
} satisfies Record<keyof LogfireConfigOptions, OptionSpec>);

/** The sink package contract: listed in a config as `'logfire'`. */
export function createSink(
  options: LogfireConfigOptions = {},
  context?: Partial<SinkContext>,
): LogfireSink {
  const { credentialsDir, ...rest } = options;
  const env = context?.env ?? process.env;
  const fromFile = credentialsDir
    ? readLogfireCredentials(path.resolve(context?.configDir ?? process.cwd(), credentialsDir))
    : {};
  const token = rest.token ?? fromFile.token ?? env.LOGFIRE_TOKEN;
  const baseUrl = rest.baseUrl ?? fromFile.baseUrl ?? env.LOGFIRE_BASE_URL;
  return new LogfireSink({
    ...rest,
    projectName: rest.projectName ?? fromFile.projectName ?? env.LOGFIRE_PROJECT_NAME ?? 'rlm-code',
    ...(token ? { token } : {}),
    ...(baseUrl ? { baseUrl } : {}),
  });
}

/** The sink package contract: activation from the seed's environment variables. */
export function fromEnv(env: Record<string, string | undefined> = process.env): LogfireSink {
  return createLogfireSinkFromEnv(env);
}

export default createSink;
