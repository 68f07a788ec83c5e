/**
 * @rlm/sink-langsmith — LangSmith for rlm-obs through the official `langsmith` client.
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
import {
  DEFAULT_LANGSMITH_LIMITS,
  LangSmithSink,
  type LangSmithSinkOptions,
} from './langsmith-sink.js';

export type {
  LangSmithLimits,
  LangSmithSinkOptions,
  LangSmithSinkStats,
} from './langsmith-sink.js';
export { LangSmithSink, langsmithRunId } from './langsmith-sink.js';

/**
 * The sink package contract: the options a config may give (`rlm-obs.config.*`), so an
 * unknown option (`api_key` for `apiKey`) or a wrong type is a config error naming the key.
 * Every option of {@link LangSmithSinkOptions} and no other (checked by the compiler).
 */
export const optionsSchema = defineOptionsSchema<LangSmithSinkOptions>({
  enabled: 'boolean',
  apiKey: 'string',
  apiUrl: (value) =>
    typeof value === 'string' && /^https?:\/\/\S+$/i.test(value)
      ? undefined
      : 'must be an http(s) URL',
  projectName: 'nonEmptyString',
  connectionCheck: 'boolean',
  maxIngestMemoryBytes: 'nonNegativeNumber',
  maxQueuedBytes: 'nonNegativeNumber',
  maxOpenRuns: 'positiveNumber',
  timeoutMs: 'finitePositiveNumber',
  maxRetries: 'count',
  name: 'nonEmptyString',
  authCooldown: AUTH_COOLDOWN_OPTIONS,
  limits: contentLimitsOptions(DEFAULT_LANGSMITH_LIMITS),
} satisfies Record<keyof LangSmithSinkOptions, OptionSpec>);

function fromEnvironment(env: Record<string, string | undefined>): LangSmithSinkOptions {
  const apiKey = env.LANGSMITH_API_KEY || env.LANGCHAIN_API_KEY;
  const apiUrl = env.LANGSMITH_ENDPOINT || env.LANGCHAIN_ENDPOINT;
  const projectName = env.LANGSMITH_PROJECT || env.LANGCHAIN_PROJECT;
  return {
    ...(apiKey ? { apiKey } : {}),
    ...(apiUrl ? { apiUrl } : {}),
    ...(projectName ? { projectName } : {}),
  };
}

/**
 * The sink as the seed's environment configures it: `DSPY_RLM_LANGSMITH_ENABLED` (default
 * false), `LANGCHAIN_API_KEY` or `LANGSMITH_API_KEY`, `LANGSMITH_ENDPOINT`, and the project from
 * `LANGCHAIN_PROJECT` / `LANGSMITH_PROJECT` (default `rlm-code`). Await `sink.ready` for the
 * connection check.
 */
export function createLangSmithSinkFromEnv(
  env: Record<string, string | undefined> = process.env,
  options: LangSmithSinkOptions = {},
): LangSmithSink {
  return new LangSmithSink({
    enabled:
      envFlag(env.DSPY_RLM_OBS_ENABLED, true) && envFlag(env.DSPY_RLM_LANGSMITH_ENABLED, false),
    ...fromEnvironment(env),
    ...options,
  });
}

/** The sink package contract: listed in a config as `'langsmith'`; resolves after the connection check (at most 5 s). */
export async function createSink(
  options: LangSmithSinkOptions = {},
  context?: Partial<SinkContext>,
): Promise<LangSmithSink> {
  const sink = new LangSmithSink({ ...fromEnvironment(context?.env ?? process.env), ...options });
  await readyOrLater(sink.ready);
  return sink;
}

/** The sink package contract: activation from the seed's environment variables. */
export async function fromEnv(
  env: Record<string, string | undefined> = process.env,
): Promise<LangSmithSink> {
  const sink = createLangSmithSinkFromEnv(env);
  await readyOrLater(sink.ready);
  return sink;
}

export default createSink;
