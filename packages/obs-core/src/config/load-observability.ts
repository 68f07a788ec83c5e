/**
 * `loadObservability()`: the TypeScript form of the seed's `RLMObservability.default()`. The
 * config file if one is found, otherwise the seed's environment variables.
 */
import type { RLMObservabilitySink } from '../contract.js';
import { type ObservabilityOptions, RLMObservability } from '../coordinator.js';
import { type DiagnosticLogger, stderrLogger } from '../diagnostics.js';
import { createRedactor, type Redactor } from '../redact.js';
import { createWorkerSinks, type WorkerSinkSpec } from '../worker/worker-sinks.js';
import { RlmObsConfigError } from './config-error.js';
import { envFlag, sinksFromEnv } from './env-activation.js';
import { type LoadConfigOptions, type LoadedConfig, loadConfig } from './load-config.js';
import { resolveSinkEntry } from './resolve-sink.js';
import {
  entryOptions,
  optionSecrets,
  scrubbingLogger,
  scrubError,
  textSecrets,
} from './secrets.js';
import type { RlmObsConfig, SinkContext, SinkEntry } from './types.js';

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

function coordinatorOptions(
  config: RlmObsConfig,
  logger: DiagnosticLogger,
  env: Record<string, string | undefined>,
  samplingSinks: Record<string, number> | undefined,
): ObservabilityOptions {
  const options: ObservabilityOptions = { logger };
  if (config.attributes) options.attributes = config.attributes;
  // Secrets in the environment the sinks were built from are scrubbed from warnings and status.
  // `redact: false` is about the recorded data: a redactor that masks nothing in events (no
  // key words, no URL patterns) still scrubs the known secrets from the diagnostics.
  options.redact =
    config.redact === false
      ? { env, defaultKeys: false, urlCredentials: false }
      : { env, ...config.redact };
  if (config.recordContent !== undefined) options.recordContent = config.recordContent;
  if (config.pricing !== undefined) options.pricing = config.pricing;
  if (config.truncate) options.limits = config.truncate;
  if (config.sampling) {
    options.sampling = {
      ...(config.sampling.rate !== undefined ? { rate: config.sampling.rate } : {}),
      ...((samplingSinks ?? config.sampling.sinks)
        ? { sinks: samplingSinks ?? config.sampling.sinks }
        : {}),
    };
  }
  if (config.queue?.maxQueueSize !== undefined) options.maxQueueSize = config.queue.maxQueueSize;
  if (config.queue?.callTimeoutMs !== undefined) options.callTimeoutMs = config.queue.callTimeoutMs;
  if (config.exit?.flushOnExit !== undefined) options.flushOnExit = config.exit.flushOnExit;
  if (config.exit?.timeoutMs !== undefined) options.exitFlushTimeoutMs = config.exit.timeoutMs;
  if (config.exit?.graceMs !== undefined) options.exitGraceMs = config.exit.graceMs;
  if (config.exit?.handleSignals !== undefined) options.handleSignals = config.exit.handleSignals;
  return options;
}

/**
 * The redactor of the diagnostics (log lines, config errors): always on, whatever `redact`
 * says about the recorded data, and it knows the secrets of every sink's options.
 */
function diagnosticsRedactor(
  config: RlmObsConfig,
  env: Record<string, string | undefined>,
): { redactor: Redactor; secrets: string[] } {
  const own = config.redact === false || config.redact === undefined ? {} : config.redact;
  const redactor = createRedactor({ ...own, env, defaultKeys: true, urlCredentials: true });
  const secrets: string[] = [];
  for (const entry of Array.isArray(config.sinks) ? config.sinks : [])
    secrets.push(...optionSecrets(entryOptions(entry), redactor.isSecretKey));
  // URL credentials in any variable (MLFLOW_TRACKING_URI=https://user:pass@host) are known
  // too: a redactor without URL patterns still finds them.
  for (const value of Object.values(env))
    if (typeof value === 'string' && value.includes('://')) secrets.push(...textSecrets(value));
  for (const secret of secrets) redactor.remember(secret);
  return { redactor, secrets };
}

/** `@rlm/sink-x` and `rlm-sink-x` are the short name `x`. */
function shortName(name: string): string {
  return name.replace(/^@rlm\/sink-|^rlm-sink-/, '');
}

/**
 * `sampling.sinks` keyed by the sinks' names (`local-jsonl`, `opentelemetry`): a key may also
 * be what the config's `sinks` list says (`jsonl`, `@rlm/sink-otel`). A key that names none of
 * the config's sinks is kept as given (a sink added later with `addSink()`, or an entry that is
 * switched off by a falsy value) and said once as a warning: a typo would sample nothing.
 */
function sinkRates(
  config: RlmObsConfig,
  entries: readonly SinkEntry[],
  sinks: readonly RLMObservabilitySink[],
  slotEntries: readonly SinkEntry[],
  file: string,
  logger: DiagnosticLogger,
): Record<string, number> | undefined {
  const rates = config.sampling?.sinks;
  if (!rates) return undefined;
  const useOf = (entry: SinkEntry): string | undefined => {
    if (typeof entry === 'string') return entry;
    if (Array.isArray(entry)) return typeof entry[0] === 'string' ? entry[0] : undefined;
    if (entry && typeof entry === 'object' && 'use' in entry && typeof entry.use === 'string')
      return entry.use;
    return undefined;
  };
  const names = new Set(sinks.map((sink) => sink.name));
  const out: Record<string, number> = {};
  for (const [key, rate] of Object.entries(rates)) {
    // The sink's own name wins when both are given.
    if (!Object.hasOwn(out, key)) out[key] = rate;
    if (names.has(key)) continue;
    let matched = false;
    sinks.forEach((sink, i) => {
      const use = useOf(slotEntries[i]);
      if (use !== undefined && shortName(use) === shortName(key)) {
        if (!Object.hasOwn(rates, sink.name)) out[sink.name] = rate;
        matched = true;
      }
    });
    if (matched) continue;
    const configured = entries.some((entry) => {
      const use = useOf(entry);
      return use !== undefined && shortName(use) === shortName(key);
    });
    // Falsy entries (`env.X && ['otel', {...}]`) leave no trace of their name: not a typo then.
    const switchedOff = entries.some((entry) => !entry);
    if (!configured && !switchedOff)
      logger.warn(
        `sampling.sinks.${key} (${file}) names no sink of this config (${[...names].join(', ') || 'none'}); it applies only to a sink of that name added later`,
      );
  }
  return out;
}

/** The local files stay in the application's thread (they write synchronously on exit). */
const LOCAL_SINKS = new Set(['jsonl', 'local-jsonl', '@rlm/sink-jsonl', 'rlm-sink-jsonl']);

interface WorkerPlan {
  /** Every sink named by package or path, except the local files. */
  all: boolean;
  names: Set<string> | undefined;
  tuning: {
    threads?: number;
    postDelayMs?: number;
    maxInFlight?: number;
    nice?: number;
    warmUpMs?: number;
    youngGenerationMb?: number;
  };
}

function workerPlan(worker: RlmObsConfig['worker']): WorkerPlan {
  if (worker === undefined || worker === false) return { all: false, names: undefined, tuning: {} };
  if (worker === true) return { all: true, names: undefined, tuning: {} };
  if (Array.isArray(worker)) return { all: false, names: new Set(worker), tuning: {} };
  const { sinks, ...tuning } = worker;
  return { all: sinks === undefined, names: sinks ? new Set(sinks) : undefined, tuning };
}

/** The worker spec of an entry that goes to the worker thread, else undefined. */
function workerSpec(
  entry: SinkEntry,
  plan: WorkerPlan,
  location: { file: string; key: string },
): WorkerSinkSpec | undefined {
  let use: unknown;
  let options: unknown;
  let explicit: boolean | undefined;
  if (typeof entry === 'string') use = entry;
  else if (Array.isArray(entry)) [use, options] = entry;
  else if (entry && typeof entry === 'object' && 'use' in entry) {
    use = entry.use;
    options = entry.options;
    explicit = typeof entry.worker === 'boolean' ? entry.worker : undefined;
  } else return undefined;
  if (explicit === false) return undefined;
  if (typeof use !== 'string' || use.trim() === '') {
    if (explicit)
      throw new RlmObsConfigError(
        "worker: true needs 'use' to be a package name or a path (objects and factories stay in this thread)",
        { file: location.file, key: `${location.key}.worker` },
      );
    return undefined;
  }
  const chosen =
    explicit ??
    (plan.names !== undefined ? plan.names.has(use) : plan.all && !LOCAL_SINKS.has(use));
  if (!chosen) return undefined;
  if (
    options !== undefined &&
    (typeof options !== 'object' || options === null || Array.isArray(options))
  )
    throw new RlmObsConfigError('options must be an object', {
      file: location.file,
      key: `${location.key}.options`,
    });
  return { use, ...(options ? { options: options as Record<string, unknown> } : {}) };
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
  const loaded = await loadConfig({ ...options, env });
  const config: RlmObsConfig = loaded?.config ?? {};
  const diagnostics = diagnosticsRedactor(config, env);
  // The sinks' warnings (they get this logger) and the worker's are scrubbed like the coordinator's.
  const logger = scrubbingLogger(options.logger ?? stderrLogger, diagnostics.redactor.scrub);
  const cwd = options.cwd ?? process.cwd();
  const context: SinkContext = {
    configDir: loaded?.dir ?? cwd,
    env,
    logger,
    ...(options.fallbackDirs ? { fallbackDirs: options.fallbackDirs } : {}),
  };
  const sinks: RLMObservabilitySink[] = [];
  let samplingSinks: Record<string, number> | undefined;
  const enabled = envFlag(env.DSPY_RLM_OBS_ENABLED, true) && config.enabled !== false;
  try {
    if (!loaded) {
      sinks.push(...(await sinksFromEnv(context)));
    } else if (enabled) {
      const entries = config.sinks ?? ['jsonl'];
      const plan = workerPlan(config.worker);
      // Each entry goes to the worker thread (the n-th sink there) or is built in this one.
      const specs: WorkerSinkSpec[] = [];
      const keys: string[] = [];
      const plans: Array<{ key: string; entry: SinkEntry; worker?: number; main?: number }> = [];
      const building: Array<Promise<RLMObservabilitySink | undefined>> = [];
      for (let i = 0; i < entries.length; i++) {
        const key = `sinks[${i}]`;
        const spec = workerSpec(entries[i], plan, { file: loaded.file, key });
        if (spec) {
          plans.push({ key, entry: entries[i], worker: specs.length });
          specs.push(spec);
          keys.push(key);
        } else plans.push({ key, entry: entries[i] });
      }
      // All at once, not one after another: a factory may wait for its backend (an auth or
      // connection check), and the worker thread starts meanwhile.
      for (const p of plans) {
        if (p.worker !== undefined) continue;
        p.main = building.length;
        building.push(resolveSinkEntry(p.entry, { file: loaded.file, key: p.key }, context));
      }
      const remoteStart =
        specs.length === 0
          ? Promise.resolve<RLMObservabilitySink[]>([])
          : createWorkerSinks(specs, {
              configDir: context.configDir,
              configFile: loaded.file,
              keys,
              fallbackDirs: options.fallbackDirs ?? [],
              env,
              logger,
              ...plan.tuning,
              ...(config.queue?.maxQueueSize !== undefined
                ? { maxQueueSize: config.queue.maxQueueSize }
                : {}),
              ...(config.queue?.callTimeoutMs !== undefined
                ? { callTimeoutMs: config.queue.callTimeoutMs }
                : {}),
            }).catch((error: unknown) => {
              if (error instanceof RlmObsConfigError) throw error;
              throw new RlmObsConfigError(
                `the sink worker could not start: ${(error as Error).message} (a sink's options must be plain data to go to the worker; set worker: false on it)`,
                { file: loaded.file, key: 'worker' },
              );
            });
      const [built, [started]] = await Promise.all([
        Promise.allSettled(building),
        Promise.allSettled([remoteStart]),
      ]);
      const remote = started?.status === 'fulfilled' ? started.value : [];
      // The sinks in delivery order, with each one's key and entry.
      const ordered: RLMObservabilitySink[] = [];
      const slotKeys: string[] = [];
      const slotEntries: SinkEntry[] = [];
      let failure: PromiseRejectedResult | undefined;
      for (const p of plans) {
        let sink: RLMObservabilitySink | undefined;
        if (p.worker !== undefined) sink = remote[p.worker];
        else {
          const result = built[p.main!]!;
          if (result.status === 'rejected') failure ??= result;
          else sink = result.value;
        }
        if (!sink) continue;
        ordered.push(sink);
        slotKeys.push(p.key);
        slotEntries.push(p.entry);
      }
      // Every sink created is in `sinks` before an error is thrown (closeAll shuts it down):
      // a broken config never half-starts. The first broken entry is the one reported.
      sinks.push(...ordered);
      if (failure) throw failure.reason;
      if (started?.status === 'rejected') throw started.reason;
      const names = new Map<string, string>();
      for (let i = 0; i < ordered.length; i++) {
        const sink = ordered[i]!;
        const key = slotKeys[i]!;
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
      }
      samplingSinks = sinkRates(config, entries, ordered, slotEntries, loaded.file, logger);
    }
  } catch (error) {
    await closeAll(sinks);
    // A config error quotes what a sink factory or the worker said: never with a secret in it.
    if (typeof error === 'string') throw diagnostics.redactor.scrub(error);
    throw scrubError(error, diagnostics.redactor.scrub);
  }
  const overrides = options.overrides ?? {};
  const obs = new RLMObservability({
    ...coordinatorOptions(config, logger, env, samplingSinks),
    ...overrides,
    ...(overrides.logger
      ? { logger: scrubbingLogger(overrides.logger, diagnostics.redactor.scrub) }
      : {}),
  });
  // Status details, flush errors and warnings: the coordinator scrubs them with its redactor,
  // which learns the secrets of the sinks' options here (the worker thread knows them too).
  for (const secret of diagnostics.secrets) obs.redactor.remember(secret);
  for (const sink of sinks) obs.addSink(sink);
  return { obs, config: loaded };
}
