/**
 * @rlm/sink-langfuse — Langfuse for rlm-obs on the current SDK (`@langfuse/otel`,
 * the public API), on a private OpenTelemetry provider.
 */
import {
  AUTH_COOLDOWN_OPTIONS,
  contentLimitsOptions,
  defineOptionsSchema,
  envFlag,
  type OptionSpec,
  readyOrLater,
  type SinkContext,
} from '@rlm/obs-core';
import { DEFAULT_LIMITS, LangfuseSink, type LangfuseSinkOptions } from './langfuse-sink.js';

export type { LangfuseLimits, LangfuseSinkOptions, LangfuseStats } from './langfuse-sink.js';
/**
 * `LangFuseSink`: the class under the Python original's name (seed 001), the same class as
 * {@link LangfuseSink}.
 */
export { LangfuseSink, LangfuseSink as LangFuseSink } from './langfuse-sink.js';

/**
 * The sink package contract: the options a config may give (`rlm-obs.config.*`), so an
 * unknown option (`publicKEY` for `publicKey`) or a wrong type is a config error naming the
 * key (`sinks[0].options.publicKEY`). Every option of {@link LangfuseSinkOptions} and no other
 * (checked by the compiler); `spanExporter` and the cooldown's `now`/`random` are objects and
 * functions a `.mjs` or `.ts` config may pass.
 */
export const optionsSchema = defineOptionsSchema<LangfuseSinkOptions>({
  enabled: 'boolean',
  // Strings, empty ones too: a `${LANGFUSE_PUBLIC_KEY}` that is not set makes the sink say
  // which key is missing (available: false), not the whole config fail.
  publicKey: 'string',
  secretKey: 'string',
  baseUrl: 'string',
  environment: 'string',
  authCheck: 'boolean',
  flushAt: 'finitePositiveNumber',
  flushIntervalSeconds: 'finitePositiveNumber',
  timeoutSeconds: 'finitePositiveNumber',
  spanExporter: 'object',
  maxOpenRuns: 'positiveNumber',
  authCooldown: AUTH_COOLDOWN_OPTIONS,
  limits: contentLimitsOptions(DEFAULT_LIMITS),
  name: 'nonEmptyString',
} satisfies Record<keyof LangfuseSinkOptions, OptionSpec>);

function fromEnvironment(env: Record<string, string | undefined>): LangfuseSinkOptions {
  // The seed names LANGFUSE_HOST; the v5 SDK reads LANGFUSE_BASE_URL: accept both.
  const baseUrl = env.LANGFUSE_HOST || env.LANGFUSE_BASE_URL;
  return {
    ...(env.LANGFUSE_PUBLIC_KEY ? { publicKey: env.LANGFUSE_PUBLIC_KEY } : {}),
    ...(env.LANGFUSE_SECRET_KEY ? { secretKey: env.LANGFUSE_SECRET_KEY } : {}),
    ...(baseUrl ? { baseUrl } : {}),
    ...(env.LANGFUSE_TRACING_ENVIRONMENT ? { environment: env.LANGFUSE_TRACING_ENVIRONMENT } : {}),
  };
}

/**
 * The sink as the seed's environment configures it: `DSPY_RLM_LANGFUSE_ENABLED` (default
 * false), `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY`, `LANGFUSE_HOST` (or `LANGFUSE_BASE_URL`;
 * default `https://cloud.langfuse.com`). Await `sink.ready` for the auth check.
 */
export function createLangfuseSinkFromEnv(
  env: Record<string, string | undefined> = process.env,
  options: LangfuseSinkOptions = {},
): LangfuseSink {
  return new LangfuseSink({
    enabled:
      envFlag(env.DSPY_RLM_OBS_ENABLED, true) && envFlag(env.DSPY_RLM_LANGFUSE_ENABLED, false),
    ...fromEnvironment(env),
    ...options,
  });
}

/**
 * The sink package contract: listed in a config as `'langfuse'`. Keys not given come from the
 * environment. Resolves after the auth check (or after 5 s, the check going on in the
 * background), so `status()` tells whether the keys work.
 */
export async function createSink(
  options: LangfuseSinkOptions = {},
  context?: Partial<SinkContext>,
): Promise<LangfuseSink> {
  const sink = new LangfuseSink({ ...fromEnvironment(context?.env ?? process.env), ...options });
  await readyOrLater(sink.ready);
  return sink;
}

/** The sink package contract: activation from the seed's environment variables. */
export async function fromEnv(
  env: Record<string, string | undefined> = process.env,
): Promise<LangfuseSink> {
  const sink = createLangfuseSinkFromEnv(env);
  await readyOrLater(sink.ready);
  return sink;
}

export default createSink;
