/**
 * @rlm/sink-mlflow — MLflow experiment tracking for rlm-obs over a small typed REST client.
 */
import {
  AUTH_COOLDOWN_OPTIONS,
  defineOptionsSchema,
  envFlag,
  type OptionSpec,
  readyOrLater,
  type SinkContext,
} from '@rlm/obs-core';
import { MlflowSink, type MlflowSinkOptions } from './mlflow-sink.js';

export type {
  MlflowClientOptions,
  MlflowExperiment,
  MlflowMetric,
  MlflowRun,
  MlflowRunInfo,
} from './mlflow-client.js';
export {
  ExperimentDeletedError,
  KeyNames,
  LIMITS,
  MlflowClient,
  MlflowError,
  validKey,
} from './mlflow-client.js';
export type { MlflowSinkOptions, MlflowSinkStats } from './mlflow-sink.js';
/**
 * {@link MlflowSink} under the name the seed and the Python original give it
 * (`MLflowSink`): the same class.
 */
export { MlflowSink, MlflowSink as MLflowSink, maskUri } from './mlflow-sink.js';

/** A finite number > 0 (a timer's milliseconds). */

/**
 * Every option of {@link MlflowSinkOptions}, for the config loader: an unknown option
 * (`trackingURI` for `trackingUri`) or a wrong type is a config error naming the key.
 */
const OPTIONS = {
  enabled: 'boolean',
  // A string only: a URI this sink cannot use (a file store, `databricks`, a database) makes
  // the sink unavailable with the fix in its status, not the whole config fail — the same
  // MLFLOW_TRACKING_URI serves other MLflow tools.
  trackingUri: 'nonEmptyString',
  experiment: 'nonEmptyString',
  username: 'string',
  password: 'string',
  token: 'string',
  timeoutMs: 'finitePositiveNumber',
  maxRetries: 'count',
  maxQueueSize: 'positiveNumber',
  maxPendingMetrics: 'positiveNumber',
  maxOpenRuns: 'positiveNumber',
  uploadArtifacts: 'boolean',
  name: 'nonEmptyString',
  authCooldown: AUTH_COOLDOWN_OPTIONS,
} satisfies Record<keyof Required<MlflowSinkOptions>, OptionSpec>;

/** The sink package contract: the options a config may give `'mlflow'`, checked at load. */
export const optionsSchema = defineOptionsSchema<MlflowSinkOptions>(OPTIONS);

function fromEnvironment(env: Record<string, string | undefined>): MlflowSinkOptions {
  return {
    ...(env.MLFLOW_TRACKING_URI ? { trackingUri: env.MLFLOW_TRACKING_URI } : {}),
    ...(env.DSPY_RLM_MLFLOW_EXPERIMENT ? { experiment: env.DSPY_RLM_MLFLOW_EXPERIMENT } : {}),
    ...(env.MLFLOW_TRACKING_USERNAME ? { username: env.MLFLOW_TRACKING_USERNAME } : {}),
    ...(env.MLFLOW_TRACKING_PASSWORD ? { password: env.MLFLOW_TRACKING_PASSWORD } : {}),
    ...(env.MLFLOW_TRACKING_TOKEN ? { token: env.MLFLOW_TRACKING_TOKEN } : {}),
  };
}

/**
 * The sink as the seed's environment configures it: `DSPY_RLM_MLFLOW_ENABLED` (default false),
 * `DSPY_RLM_MLFLOW_EXPERIMENT` (default `rlm-code-rlm`), `MLFLOW_TRACKING_URI`, and
 * `MLFLOW_TRACKING_USERNAME`/`PASSWORD` or `MLFLOW_TRACKING_TOKEN`.
 */
export function createMlflowSinkFromEnv(
  env: Record<string, string | undefined> = process.env,
  options: MlflowSinkOptions = {},
): MlflowSink {
  return new MlflowSink({
    enabled: envFlag(env.DSPY_RLM_OBS_ENABLED, true) && envFlag(env.DSPY_RLM_MLFLOW_ENABLED, false),
    ...fromEnvironment(env),
    ...options,
  });
}

/** The sink package contract: listed in a config as `'mlflow'`; resolves once the experiment exists. */
export async function createSink(
  options: MlflowSinkOptions = {},
  context?: Partial<SinkContext>,
): Promise<MlflowSink> {
  const sink = new MlflowSink({ ...fromEnvironment(context?.env ?? process.env), ...options });
  await readyOrLater(sink.ready);
  return sink;
}

/** The sink package contract: activation from the seed's environment variables. */
export async function fromEnv(
  env: Record<string, string | undefined> = process.env,
): Promise<MlflowSink> {
  const sink = createMlflowSinkFromEnv(env);
  await readyOrLater(sink.ready);
  return sink;
}

export default createSink;
