/**
 * The seed's environment activation (seed 001, "Automatic Activation from Environment
 * Variables"), used when there is no config file: each flag maps to a sink package, which
 * reads its own settings from the same environment through its `fromEnv`.
 */
import type { RLMObservabilitySink } from '../contract.js';
import { createWorkerSinks, type WorkerSinkSpec } from '../worker/worker-sinks.js';
import { RlmObsConfigError } from './config-error.js';
import { createPlaceholderSink } from './placeholder-sink.js';
import { notInstalledMessage, resolveSinkModule } from './resolve-sink.js';
import type { SinkContext, SinkModule } from './types.js';

/** One row of seed 001's table. */
export interface SeedSink {
  /** The flag that turns the sink on. */
  flag: string;
  /** Its default when unset. */
  defaultOn: boolean;
  /** The sink package. */
  packageName: string;
  /** The short name resolving to it. */
  shortName: string;
  /** The sink's name in `status()`. */
  sinkName: string;
  /** Settings the sink reads from the environment (documentation; the sink reads them). */
  settings: string[];
}

/** Seed 001's sinks, in the Python original's order. */
export const SEED_SINKS: readonly SeedSink[] = [
  {
    flag: 'DSPY_RLM_OBS_LOCAL_JSONL',
    defaultOn: true,
    packageName: '@rlm/sink-jsonl',
    shortName: 'jsonl',
    sinkName: 'local-jsonl',
    settings: [],
  },
  {
    flag: 'DSPY_RLM_MLFLOW_ENABLED',
    defaultOn: false,
    packageName: '@rlm/sink-mlflow',
    shortName: 'mlflow',
    sinkName: 'mlflow',
    settings: ['DSPY_RLM_MLFLOW_EXPERIMENT', 'MLFLOW_TRACKING_URI'],
  },
  {
    flag: 'DSPY_RLM_OTEL_ENABLED',
    defaultOn: false,
    packageName: '@rlm/sink-otel',
    shortName: 'otel',
    sinkName: 'opentelemetry',
    settings: ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME', 'DSPY_RLM_OTEL_METRICS_ENABLED'],
  },
  {
    flag: 'DSPY_RLM_LANGSMITH_ENABLED',
    defaultOn: false,
    packageName: '@rlm/sink-langsmith',
    shortName: 'langsmith',
    sinkName: 'langsmith',
    settings: ['LANGCHAIN_API_KEY', 'LANGCHAIN_PROJECT'],
  },
  {
    flag: 'DSPY_RLM_LANGFUSE_ENABLED',
    defaultOn: false,
    packageName: '@rlm/sink-langfuse',
    shortName: 'langfuse',
    sinkName: 'langfuse',
    settings: ['LANGFUSE_PUBLIC_KEY', 'LANGFUSE_SECRET_KEY', 'LANGFUSE_HOST'],
  },
  {
    flag: 'DSPY_RLM_LOGFIRE_ENABLED',
    defaultOn: false,
    packageName: '@rlm/sink-logfire',
    shortName: 'logfire',
    sinkName: 'logfire',
    settings: ['LOGFIRE_TOKEN', 'LOGFIRE_PROJECT_NAME'],
  },
];

/** The seed's boolean parsing: `1`, `true`, `yes`, `on` (any case) are true. */
export function envFlag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value.trim() === '') return fallback;
  return ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

/**
 * The sinks the environment asks for. An installed package builds its own sink through
 * `fromEnv(env)` (disabled ones too, so `status()` shows them as the Python original does);
 * a package that is not installed appears with `available: false` and the install command
 * when enabled, or as `disabled` otherwise.
 */
export async function sinksFromEnv(context: SinkContext): Promise<RLMObservabilitySink[]> {
  const { env } = context;
  const master = envFlag(env.DSPY_RLM_OBS_ENABLED, true);
  const sinks: RLMObservabilitySink[] = [];
  // RLM_OBS_WORKER: the enabled remote sinks are built (by their fromEnv) in the sink worker
  // thread; `specs[i]` fills the place `slots[i]` keeps in `sinks`.
  const worker = master && envFlag(env.RLM_OBS_WORKER, false);
  const specs: WorkerSinkSpec[] = [];
  const slots: number[] = [];
  for (const seed of SEED_SINKS) {
    const enabled = master && envFlag(env[seed.flag], seed.defaultOn);
    // With the master switch off, the Python original keeps only a disabled local sink.
    if (!master && seed.sinkName !== 'local-jsonl') continue;
    const found = resolveSinkModule(seed.packageName, context.configDir, context.fallbackDirs);
    if (!found) {
      sinks.push(
        createPlaceholderSink(seed.sinkName, {
          enabled,
          detail: enabled ? notInstalledMessage(seed.shortName, context.configDir) : 'disabled',
        }),
      );
      continue;
    }
    if (worker && enabled && seed.sinkName !== 'local-jsonl') {
      slots.push(sinks.length);
      specs.push({ use: seed.packageName, fromEnv: true });
      sinks.push(createPlaceholderSink(seed.sinkName, { enabled, detail: 'starting' }));
      continue;
    }
    let mod: SinkModule;
    try {
      mod = (await import(found.url)) as SinkModule;
    } catch (error) {
      throw new RlmObsConfigError(
        `${seed.packageName} failed to load: ${(error as Error).message}`,
        { key: seed.flag, cause: error },
      );
    }
    const sinkEnv = master ? env : { ...env, [seed.flag]: 'false', DSPY_RLM_OBS_ENABLED: 'false' };
    if (typeof mod.fromEnv === 'function') {
      sinks.push(await mod.fromEnv(sinkEnv, { ...context, env: sinkEnv }));
    } else if (enabled && typeof mod.createSink === 'function') {
      sinks.push(await mod.createSink({}, { ...context, env: sinkEnv }));
    } else {
      sinks.push(
        createPlaceholderSink(seed.sinkName, {
          enabled,
          detail: enabled ? `${seed.packageName} has no fromEnv` : 'disabled',
        }),
      );
    }
  }
  if (specs.length > 0) {
    const remote = await createWorkerSinks(specs, {
      configDir: context.configDir,
      fallbackDirs: context.fallbackDirs ?? [],
      env,
      logger: context.logger,
      keys: specs.map(() => 'RLM_OBS_WORKER'),
    }).catch(async (error: unknown) => {
      await Promise.all(
        sinks.map((sink) => Promise.resolve(sink.shutdown?.()).catch(() => undefined)),
      );
      throw error;
    });
    slots.forEach((slot, i) => {
      sinks[slot] = remote[i]!;
    });
  }
  return sinks;
}
