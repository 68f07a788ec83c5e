/**
 * @rlm/sink-langsmith — LangSmith for rlm-obs through the official `langsmith` client.
 */
import { envFlag, readyOrLater, type SinkContext } from '@rlm/obs-core';
import { LangSmithSink, type LangSmithSinkOptions } from './langsmith-sink.js';

export type { LangSmithSinkOptions, LangSmithSinkStats } from './langsmith-sink.js';
export { LangSmithSink, langsmithRunId } from './langsmith-sink.js';

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
