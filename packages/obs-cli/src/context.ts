/**
 * What every command shares: the same config and environment as `loadObservability()`, with
 * `--config` and `--dir` on top, and one exit-code policy.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createRedactor,
  type LoadedConfig,
  loadConfig,
  loadObservabilityDetailed,
  type RLMObservability,
  RlmObsConfigError,
} from '@rlm/obs-core';
import {
  createJsonlSink,
  DEFAULT_JSONL_DIR,
  type JsonlStore,
  openJsonlStore,
} from '@rlm/sink-jsonl';
import { parseSince } from './run-stats.js';

const CLI_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
  dir?: string;
  json?: boolean;
}

/** Documented exit codes. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The command ran and found a problem (an unusable sink, a missing run, failed deliveries). */
  problem: 1,
  /** Bad usage or a broken config. */
  usage: 2,
} as const;

/** An error that ends the command with a message and an exit code (no stack trace). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.problem) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * A config error as the CLI prints it: without URL credentials or the environment's secrets
 * (obs-core scrubs the sinks' option secrets from its errors already; this is the last line).
 */
export function configErrorMessage(
  error: Error,
  env: Record<string, string | undefined> = process.env,
): string {
  return createRedactor({ env }).scrub(`config error: ${error.message}`);
}

/** Loads the coordinator like `loadObservability()`; `--dir` replaces the local sink's directory. */
export async function loadContext(
  options: GlobalOptions,
  extra: { flushOnExit?: boolean } = {},
): Promise<{ obs: RLMObservability; config: LoadedConfig | undefined }> {
  const env = { ...process.env };
  if (options.dir) env.RLM_OBS_JSONL_DIR = path.resolve(options.dir);
  try {
    const loaded = await loadObservabilityDetailed({
      ...(options.config ? { configFile: options.config } : {}),
      env,
      // The sinks this CLI ships with (the local files) are found even where the project has none.
      fallbackDirs: [CLI_DIR],
      overrides: { flushOnExit: extra.flushOnExit ?? false },
    });
    if (options.dir && loaded.config) {
      // A config file's own jsonl directory gives way to --dir.
      const previous = loaded.obs.getSink('local-jsonl');
      if (previous) {
        loaded.obs.removeSink('local-jsonl');
        await previous.shutdown?.();
        loaded.obs.addSink(createJsonlSink({ dir: path.resolve(options.dir) }));
      }
    }
    return loaded;
  } catch (error) {
    if (error instanceof RlmObsConfigError)
      throw new CliError(configErrorMessage(error, env), EXIT.usage);
    throw error;
  }
}

function entryDir(entry: unknown): string | undefined | null {
  // null: not a jsonl entry; undefined: jsonl without a dir.
  const isJsonl = (name: unknown) => name === 'jsonl' || name === '@rlm/sink-jsonl';
  if (typeof entry === 'string') return isJsonl(entry) ? undefined : null;
  if (Array.isArray(entry))
    return isJsonl(entry[0])
      ? ((entry[1] as { dir?: string } | undefined)?.dir ?? undefined)
      : null;
  if (entry && typeof entry === 'object' && 'use' in entry) {
    const e = entry as { use: unknown; options?: { dir?: string } };
    return isJsonl(e.use) ? (e.options?.dir ?? undefined) : null;
  }
  if (entry && typeof entry === 'object' && (entry as { name?: unknown }).name === 'local-jsonl') {
    return (entry as { dir?: string }).dir;
  }
  return null;
}

/**
 * The JSONL directory to read, without starting any sink: `--dir`, else the config's jsonl
 * entry, else `RLM_OBS_JSONL_DIR`, else the default under the working directory.
 */
export async function resolveJsonlDir(options: GlobalOptions): Promise<string> {
  if (options.dir) return path.resolve(options.dir);
  let loaded: LoadedConfig | undefined;
  try {
    loaded = await loadConfig(options.config ? { configFile: options.config } : {});
  } catch (error) {
    if (error instanceof RlmObsConfigError)
      throw new CliError(configErrorMessage(error), EXIT.usage);
    throw error;
  }
  if (loaded) {
    for (const entry of loaded.config.sinks ?? ['jsonl']) {
      const dir = entryDir(entry);
      if (dir === null) continue;
      if (typeof dir === 'string') return path.resolve(loaded.dir, dir);
      break;
    }
  }
  if (process.env.RLM_OBS_JSONL_DIR) return path.resolve(process.env.RLM_OBS_JSONL_DIR);
  return path.resolve(DEFAULT_JSONL_DIR);
}

/** The store to read, and a clear error when a run is not in it. */
export async function openStore(options: GlobalOptions): Promise<JsonlStore> {
  return openJsonlStore(await resolveJsonlDir(options));
}

/** Runs started since `--since` (a date or a span like 30m, 2h, 7d); a bad value is a usage error. */
export function runsSince<T extends { startedAt: string | null; finishedAt: string | null }>(
  runs: T[],
  since: string,
): T[] {
  const from = parseSince(since);
  if (!Number.isFinite(from)) {
    throw new CliError(
      `--since: '${since}' is neither a date nor a span like 30m, 2h, 7d`,
      EXIT.usage,
    );
  }
  return runs.filter((r) => Date.parse(r.startedAt ?? r.finishedAt ?? '') >= from);
}

/** Finds a run by id or unique prefix. */
export async function findRunId(store: JsonlStore, idOrPrefix: string): Promise<string> {
  const runs = await store.listRuns();
  const exact = runs.find((r) => r.runId === idOrPrefix);
  if (exact) return exact.runId;
  const matches = runs.filter((r) => r.runId.startsWith(idOrPrefix));
  if (matches.length === 1) return matches[0]!.runId;
  if (matches.length > 1) {
    throw new CliError(
      `'${idOrPrefix}' matches ${matches.length} runs (${matches
        .slice(0, 3)
        .map((r) => r.runId)
        .join(', ')}, …); give more of the id`,
      EXIT.usage,
    );
  }
  throw new CliError(
    `no run '${idOrPrefix}' in ${store.dir} (list them with: rlm-obs runs)`,
    EXIT.problem,
  );
}
