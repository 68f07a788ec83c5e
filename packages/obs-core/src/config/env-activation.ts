/**
 * The seed's environment activation (seed 001, "Automatic Activation from Environment
 * Variables"), used when there is no config file: each flag maps to a sink package, which
 * reads its own settings from the same environment through its `fromEnv`.
 */
import type { RLMObservabilitySink } from '../contract.js';
import { isSinkLike } from '../coordinator.js';
import { errorText } from '../diagnostics.js';
import { createRedactor } from '../redact.js';
import { createWorkerSinks, type WorkerSinkSpec } from '../worker/worker-sinks.js';
import { installCommand } from './load-config.js';
import { createPlaceholderSink } from './placeholder-sink.js';
import { resolveSinkModule } from './resolve-sink.js';
import { textSecrets } from './secrets.js';
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

/** Scrubs the environment's secrets (and URL credentials in any variable) from a message. */
function envScrubber(env: Record<string, string | undefined>): (text: string) => string {
  const redactor = createRedactor({ env });
  for (const value of Object.values(env))
    if (typeof value === 'string' && value.includes('://'))
      for (const secret of textSecrets(value)) redactor.remember(secret);
  return redactor.scrub;
}

function firstLine(error: unknown): string {
  return (errorText(error).split('\n')[0] ?? '').trim() || 'unknown error';
}

/**
 * Builds one seed sink in this thread. Never rejects: a package that fails to import, or
 * whose `fromEnv` throws or returns no sink, becomes a placeholder (`failed to load: …` when
 * enabled) and the other sinks keep working — seed 001: a failing sink never crashes the run.
 */
async function buildSeedSink(
  seed: SeedSink,
  url: string,
  enabled: boolean,
  master: boolean,
  context: SinkContext,
  scrub: (text: string) => string,
): Promise<RLMObservabilitySink> {
  const sinkEnv = master
    ? context.env
    : { ...context.env, [seed.flag]: 'false', DSPY_RLM_OBS_ENABLED: 'false' };
  let sink: unknown;
  try {
    const mod = (await import(url)) as SinkModule;
    if (typeof mod.fromEnv === 'function') {
      sink = await mod.fromEnv(sinkEnv, { ...context, env: sinkEnv });
    } else if (enabled && typeof mod.createSink === 'function') {
      sink = await mod.createSink({}, { ...context, env: sinkEnv });
    } else {
      return createPlaceholderSink(seed.sinkName, {
        enabled,
        detail: enabled ? `${seed.packageName} has no fromEnv` : 'disabled',
      });
    }
    if (!isSinkLike(sink))
      throw new Error(`${seed.packageName}'s fromEnv returned something that is not a sink`);
    return sink;
  } catch (error) {
    const detail = scrub(`failed to load: ${firstLine(error)}`);
    if (enabled)
      context.logger.warn(
        `sink '${seed.sinkName}' (${seed.packageName}, ${seed.flag}) ${detail}; it records nothing, the other sinks carry on`,
      );
    return createPlaceholderSink(seed.sinkName, { enabled, detail: enabled ? detail : 'disabled' });
  }
}

/**
 * The sinks the environment asks for, in seed 001's order. An enabled installed package
 * builds its own sink through `fromEnv(env)`; the packages are loaded and their sinks built
 * concurrently (a sink may check its backend first). A disabled sink is listed as `disabled`
 * without loading its package (the local JSONL sink excepted: it is always built). An enabled
 * sink whose package is not installed appears with `available: false` and the install command,
 * one that failed to load with `failed to load: …`: it never stops the others.
 */
export async function sinksFromEnv(context: SinkContext): Promise<RLMObservabilitySink[]> {
  const { env } = context;
  const master = envFlag(env.DSPY_RLM_OBS_ENABLED, true);
  const scrub = envScrubber(env);
  const building: Array<Promise<RLMObservabilitySink>> = [];
  // RLM_OBS_WORKER: the enabled remote sinks are built (by their fromEnv) in the sink worker
  // thread; `specs[i]` fills the place `slots[i]` keeps in the result.
  const worker = master && envFlag(env.RLM_OBS_WORKER, false);
  const specs: WorkerSinkSpec[] = [];
  const slots: number[] = [];
  const workerSeeds: SeedSink[] = [];
  for (const seed of SEED_SINKS) {
    const local = seed.sinkName === 'local-jsonl';
    const enabled = master && envFlag(env[seed.flag], seed.defaultOn);
    // With the master switch off, the Python original keeps only a disabled local sink.
    if (!master && !local) continue;
    if (!enabled && !local) {
      building.push(
        Promise.resolve(createPlaceholderSink(seed.sinkName, { enabled, detail: 'disabled' })),
      );
      continue;
    }
    const found = resolveSinkModule(seed.packageName, context.configDir, context.fallbackDirs);
    if (!found) {
      building.push(
        Promise.resolve(
          createPlaceholderSink(seed.sinkName, {
            enabled,
            detail: enabled
              ? `sink '${seed.shortName}' is not installed: ${installCommand(context.configDir)} ${seed.packageName}`
              : 'disabled',
          }),
        ),
      );
      continue;
    }
    if (worker && enabled && !local) {
      slots.push(building.length);
      specs.push({ use: seed.packageName, fromEnv: true, fallbackName: seed.sinkName });
      workerSeeds.push(seed);
      building.push(
        Promise.resolve(createPlaceholderSink(seed.sinkName, { enabled, detail: 'starting' })),
      );
      continue;
    }
    building.push(buildSeedSink(seed, found.url, enabled, master, context, scrub));
  }
  const remote =
    specs.length === 0
      ? Promise.resolve<RLMObservabilitySink[]>([])
      : createWorkerSinks(specs, {
          configDir: context.configDir,
          fallbackDirs: context.fallbackDirs ?? [],
          env,
          logger: context.logger,
          keys: specs.map(() => 'RLM_OBS_WORKER'),
        }).catch((error: unknown) => {
          // The worker thread itself could not start: those sinks record nothing, the others
          // (in this thread) still do.
          const detail = scrub(
            `failed to load: the sink worker could not start: ${firstLine(error)}`,
          );
          context.logger.warn(`RLM_OBS_WORKER: ${detail}`);
          return workerSeeds.map((seed) =>
            createPlaceholderSink(seed.sinkName, { enabled: true, detail }),
          );
        });
  const [sinks, inWorker] = await Promise.all([Promise.all(building), remote]);
  slots.forEach((slot, i) => {
    sinks[slot] = inWorker[i]!;
  });
  return sinks;
}
