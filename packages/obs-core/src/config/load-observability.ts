/**
 * `loadObservability()`: the TypeScript form of the seed's `RLMObservability.default()`. The
 * config file if one is found, otherwise the seed's environment variables.
 */
import type { RLMObservabilitySink } from '../contract.js';
import { type ObservabilityOptions, RLMObservability } from '../coordinator.js';
import { type DiagnosticLogger, stderrLogger } from '../diagnostics.js';
import { RlmObsConfigError } from './config-error.js';
import { envFlag, sinksFromEnv } from './env-activation.js';
import { type LoadConfigOptions, type LoadedConfig, loadConfig } from './load-config.js';
import { resolveSinkEntry } from './resolve-sink.js';
import type { RlmObsConfig, SinkContext } from './types.js';

/** Options of {@link loadObservability}. */
export interface LoadObservabilityOptions extends LoadConfigOptions {
  /** For rlm-obs's and the sinks' warnings. @defaultValue stderr */
  logger?: DiagnosticLogger;
  /** Coordinator options that win over the config (for tests and tools). */
  overrides?: ObservabilityOptions;
  /** Where else to look for sink packages (a tool passes its own directory). */
  fallbackDirs?: string[];
}

/** What {@link loadObservability} found, for tools like `rlm-obs status`. */
export interface LoadedObservability {
  obs: RLMObservability;
  /** The config file, or `undefined` when the environment was used. */
  config: LoadedConfig | undefined;
}

function coordinatorOptions(config: RlmObsConfig, logger: DiagnosticLogger): ObservabilityOptions {
  const options: ObservabilityOptions = { logger };
  if (config.attributes) options.attributes = config.attributes;
  if (config.redact !== undefined) options.redact = config.redact;
  if (config.recordContent !== undefined) options.recordContent = config.recordContent;
  if (config.pricing !== undefined) options.pricing = config.pricing;
  if (config.truncate) options.limits = config.truncate;
  if (config.sampling) {
    options.sampling = {
      ...(config.sampling.rate !== undefined ? { rate: config.sampling.rate } : {}),
      ...(config.sampling.sinks ? { sinks: config.sampling.sinks } : {}),
    };
  }
  if (config.queue?.maxQueueSize !== undefined) options.maxQueueSize = config.queue.maxQueueSize;
  if (config.queue?.callTimeoutMs !== undefined) options.callTimeoutMs = config.queue.callTimeoutMs;
  if (config.exit?.flushOnExit !== undefined) options.flushOnExit = config.exit.flushOnExit;
  if (config.exit?.timeoutMs !== undefined) options.exitFlushTimeoutMs = config.exit.timeoutMs;
  if (config.exit?.handleSignals !== undefined) options.handleSignals = config.exit.handleSignals;
  return options;
}

async function closeAll(sinks: RLMObservabilitySink[]): Promise<void> {
  await Promise.all(sinks.map((sink) => Promise.resolve(sink.shutdown?.()).catch(() => undefined)));
}

/**
 * Builds the coordinator from the config file, or from the seed's environment variables when
 * there is none. A broken config throws {@link RlmObsConfigError} before any sink starts
 * (sinks already created are shut down again): it never half-starts.
 *
 * @example
 * ```ts
 * const obs = await loadObservability();
 * const run = obs.startRun({ task: 'Sum a list', environment: 'pure_rlm' });
 * ```
 */
export async function loadObservability(
  options: LoadObservabilityOptions = {},
): Promise<RLMObservability> {
  return (await loadObservabilityDetailed(options)).obs;
}

/** Like {@link loadObservability}, also telling where the settings came from. */
export async function loadObservabilityDetailed(
  options: LoadObservabilityOptions = {},
): Promise<LoadedObservability> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? stderrLogger;
  const loaded = await loadConfig({ ...options, env });
  const cwd = options.cwd ?? process.cwd();
  const context: SinkContext = {
    configDir: loaded?.dir ?? cwd,
    env,
    logger,
    ...(options.fallbackDirs ? { fallbackDirs: options.fallbackDirs } : {}),
  };
  const config: RlmObsConfig = loaded?.config ?? {};
  const sinks: RLMObservabilitySink[] = [];
  const enabled = envFlag(env.DSPY_RLM_OBS_ENABLED, true) && config.enabled !== false;
  try {
    if (!loaded) {
      sinks.push(...(await sinksFromEnv(context)));
    } else if (enabled) {
      const entries = config.sinks ?? ['jsonl'];
      const names = new Map<string, string>();
      for (let i = 0; i < entries.length; i++) {
        const key = `sinks[${i}]`;
        const sink = await resolveSinkEntry(entries[i], { file: loaded.file, key }, context);
        if (!sink) continue;
        const previous = names.get(sink.name);
        if (previous) {
          throw new RlmObsConfigError(
            `two sinks are named '${sink.name}' (${previous} and ${key}); give one another name`,
            {
              file: loaded.file,
              key,
            },
          );
        }
        names.set(sink.name, key);
        sinks.push(sink);
      }
    }
  } catch (error) {
    await closeAll(sinks);
    throw error;
  }
  const obs = new RLMObservability({ ...coordinatorOptions(config, logger), ...options.overrides });
  for (const sink of sinks) obs.addSink(sink);
  return { obs, config: loaded };
}
