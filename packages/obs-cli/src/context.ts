/**
 * What every command shares: the same config and environment as `loadObservability()`, with
 * `--config` and `--dir` on top, and one exit-code policy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createRedactor,
  envFlag,
  type LoadedConfig,
  loadConfig,
  loadObservabilityDetailed,
  type RLMObservability,
  RlmObsConfigError,
} from '@rlm/obs-core';
import {
  createJsonlSink,
  type JsonlSinkOptions,
  type JsonlStore,
  openJsonlStore,
  resolveJsonlSinkOptions,
} from '@rlm/sink-jsonl';
import { formatTime, oneLine } from './output.js';
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

/**
 * Refuses (exit 2) a directory for the local files that cannot be created, before the sink
 * tries: where part of it is missing, its nearest existing ancestor must be a directory we can
 * create directories in. Node's recursive `mkdir` never returns under `/proc` (it retries
 * there without end), and root passes every `access()` check, so a directory is made and
 * removed there to be sure. A directory that exists, or a file in the way, is left to the
 * sink, which reports it.
 */
export function checkCreatableDir(dir: string, source: string): void {
  const target = path.resolve(dir);
  let ancestor = target;
  for (;;) {
    try {
      fs.statSync(ancestor);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return; // not ours to judge (the sink reports it)
      const parent = path.dirname(ancestor);
      if (parent === ancestor) return;
      ancestor = parent;
    }
  }
  if (ancestor === target) return;
  if (!fs.statSync(ancestor).isDirectory()) return;
  const refuse = (reason: string) =>
    new CliError(
      `cannot create the local files' directory ${target} (${source}): ${reason}; choose a writable directory with --dir or RLM_OBS_JSONL_DIR`,
      EXIT.usage,
    );
  try {
    fs.accessSync(ancestor, fs.constants.W_OK);
  } catch {
    throw refuse(`${ancestor} is not writable`);
  }
  const probe = path.join(ancestor, `.rlm-obs-probe-${process.pid}-${Date.now()}`);
  try {
    fs.mkdirSync(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw refuse(`no directory can be made in ${ancestor} (${code})`);
  }
  fs.rmdirSync(probe);
}

/**
 * What chose the JSONL directory `dir` ({@link resolveJsonlDir}'s answer): `--dir`,
 * `RLM_OBS_JSONL_DIR` or the config; `undefined` for the default under the working directory.
 */
function chosenBy(
  dir: string,
  options: GlobalOptions,
  env: Record<string, string | undefined>,
): string | undefined {
  if (options.dir) return '--dir';
  if (env.RLM_OBS_JSONL_DIR && path.resolve(env.RLM_OBS_JSONL_DIR) === dir)
    return 'RLM_OBS_JSONL_DIR';
  const fallback = resolveJsonlSinkOptions({}, { env: {} }).dir;
  return dir === fallback ? undefined : 'the config';
}

/** The redactor of the coordinator the command loaded (it knows the config's secrets). */
let loadedRedactor: { scrub(text: string): string } | undefined;

/**
 * Text for the terminal without secrets: the environment's and URL credentials, and — once a
 * command has loaded its config ({@link loadContext}) — the secrets of the sinks' options
 * (`${VAR}` values in the config). For errors nobody expected, which may quote anything.
 */
export function scrubForOutput(text: string): string {
  const scrubbed = createRedactor().scrub(text);
  return loadedRedactor ? loadedRedactor.scrub(scrubbed) : scrubbed;
}

/** Forgets the loaded config's redactor (a new command starts). */
export function forgetLoadedRedactor(): void {
  loadedRedactor = undefined;
}

/** Loads the coordinator like `loadObservability()`; `--dir` replaces the local sink's directory. */
export async function loadContext(
  options: GlobalOptions,
  extra: { flushOnExit?: boolean } = {},
): Promise<{ obs: RLMObservability; config: LoadedConfig | undefined }> {
  const env = { ...process.env };
  if (options.dir) env.RLM_OBS_JSONL_DIR = path.resolve(options.dir);
  const local = await resolveJsonl(options, env);
  // Only where the local sink will make its directory: a config or environment that switches
  // the local files off never gets here for a directory it does not use.
  const source = local.enabled ? chosenBy(local.dir, options, env) : undefined;
  if (source) checkCreatableDir(local.dir, source);
  try {
    const loaded = await loadObservabilityDetailed({
      ...(options.config ? { configFile: options.config } : {}),
      env,
      // The sinks this CLI ships with (the local files) are found even where the project has none.
      fallbackDirs: [CLI_DIR],
      overrides: { flushOnExit: extra.flushOnExit ?? false },
    });
    loadedRedactor = loaded.obs.redactor;
    if (options.dir && loaded.config) {
      // A config file's own jsonl directory gives way to --dir.
      // Only the directory changes: the entry's other options (its `enabled` among them) hold.
      const previous = loaded.obs.getSink('local-jsonl');
      if (previous) {
        loaded.obs.removeSink('local-jsonl');
        await previous.shutdown?.();
        const kept: JsonlSinkOptions = local.entryOptions ?? {
          enabled: (previous as { enabled?: unknown }).enabled !== false,
        };
        loaded.obs.addSink(
          createJsonlSink(
            { ...kept, dir: path.resolve(options.dir) },
            { env, configDir: loaded.config.dir },
          ),
        );
      }
    }
    return loaded;
  } catch (error) {
    if (error instanceof RlmObsConfigError)
      throw new CliError(configErrorMessage(error, env), EXIT.usage);
    throw error;
  }
}

/**
 * The options of the config's first `jsonl` entry: `null` when none is, the sink itself when
 * the entry is a `local-jsonl` sink object (its `dir` is where it writes).
 */
function jsonlEntry(
  entries: unknown[],
): { options: JsonlSinkOptions } | { dir: string; enabled: boolean } | null {
  const isJsonl = (name: unknown) => name === 'jsonl' || name === '@rlm/sink-jsonl';
  const options = (value: unknown): JsonlSinkOptions =>
    value && typeof value === 'object' && !Array.isArray(value) ? (value as JsonlSinkOptions) : {};
  for (const entry of entries) {
    if (typeof entry === 'string') {
      if (isJsonl(entry)) return { options: {} };
    } else if (Array.isArray(entry)) {
      if (isJsonl(entry[0])) return { options: options(entry[1]) };
    } else if (entry && typeof entry === 'object' && 'use' in entry) {
      const e = entry as { use: unknown; options?: unknown };
      if (isJsonl(e.use)) return { options: options(e.options) };
    } else if (
      entry &&
      typeof entry === 'object' &&
      (entry as { name?: unknown }).name === 'local-jsonl' &&
      typeof (entry as { dir?: unknown }).dir === 'string'
    ) {
      const sink = entry as { dir: string; enabled?: unknown };
      return { dir: sink.dir, enabled: sink.enabled !== false };
    }
  }
  return null;
}

/** What {@link resolveJsonl} finds out about the local files. */
interface LocalFiles {
  /** Where they are read from: `--dir`, else where the local sink writes. */
  dir: string;
  /** The local sink will be enabled: the master switch and the sink's own switch are on. */
  enabled: boolean;
  /** The config's jsonl entry's options (`{}` without a config), `undefined` for a sink object. */
  entryOptions: JsonlSinkOptions | undefined;
}

/**
 * The local files as the config and the environment that will load set them up, without
 * starting any sink: the directory ({@link resolveJsonlDir}) and whether the local sink will
 * be enabled — with a config, its `enabled` and `DSPY_RLM_OBS_ENABLED` (the master switch),
 * then the first jsonl entry (none: not configured) with its `enabled` option, else
 * `DSPY_RLM_OBS_LOCAL_JSONL`; without one, the two environment variables.
 */
async function resolveJsonl(
  options: GlobalOptions,
  env: Record<string, string | undefined>,
): Promise<LocalFiles> {
  let loaded: LoadedConfig | undefined;
  try {
    loaded = await loadConfig({ ...(options.config ? { configFile: options.config } : {}), env });
  } catch (error) {
    if (error instanceof RlmObsConfigError)
      throw new CliError(configErrorMessage(error, env), EXIT.usage);
    throw error;
  }
  const master = envFlag(env.DSPY_RLM_OBS_ENABLED, true) && loaded?.config.enabled !== false;
  const entry = loaded ? jsonlEntry(loaded.config.sinks ?? ['jsonl']) : { options: {} };
  const given = options.dir ? path.resolve(options.dir) : undefined;
  if (entry && 'dir' in entry)
    return {
      dir: given ?? path.resolve(entry.dir),
      enabled: master && entry.enabled,
      entryOptions: undefined,
    };
  const resolved = resolveJsonlSinkOptions(entry?.options ?? {}, {
    env,
    ...(loaded ? { configDir: loaded.dir } : {}),
  });
  return {
    dir: given ?? resolved.dir,
    enabled: master && entry !== null && resolved.enabled,
    entryOptions: entry?.options ?? undefined,
  };
}

/**
 * The JSONL directory to read, without starting any sink: `--dir`, else where the local sink
 * writes — the same rule as the sink's ({@link resolveJsonlSinkOptions}): the config's jsonl
 * entry's `dir`, else `RLM_OBS_JSONL_DIR`, else the default under the working directory.
 */
export async function resolveJsonlDir(
  options: GlobalOptions,
  env: Record<string, string | undefined> = process.env,
): Promise<string> {
  if (options.dir) return path.resolve(options.dir);
  return (await resolveJsonl(options, env)).dir;
}

/**
 * The JSONL directory to read ({@link resolveJsonlDir}), and whether it exists. A directory
 * someone chose (`--dir`, `RLM_OBS_JSONL_DIR`, the config) that does not exist is an error
 * (exit 1: mistyped, or nothing recorded there yet) unless `waitForIt` (`tail -f`, `view`,
 * which show it once it appears); the default directory of a project that has recorded
 * nothing yet is not. A path that is not a directory is an error either way.
 */
export async function readableJsonlDir(
  options: GlobalOptions,
  { waitForIt = false }: { waitForIt?: boolean } = {},
): Promise<{ dir: string; exists: boolean }> {
  const env = process.env;
  const dir = await resolveJsonlDir(options, env);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return { dir, exists: true }; // the reader reports it
    const source = chosenBy(dir, options, env);
    if (waitForIt || source === undefined) return { dir, exists: false };
    throw new CliError(
      `no such directory: ${dir} (from ${source}; mistyped, or nothing recorded there yet)`,
      EXIT.problem,
    );
  }
  if (!stat.isDirectory())
    throw new CliError(`not a directory: ${dir} (the local JSONL files' directory)`, EXIT.problem);
  return { dir, exists: true };
}

/** The store to read ({@link readableJsonlDir}), and a clear error when a run is not in it. */
export async function openStore(
  options: GlobalOptions,
  read: { waitForIt?: boolean } = {},
): Promise<JsonlStore> {
  return openJsonlStore((await readableJsonlDir(options, read)).dir);
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
    // The latest few (ids begin with their start time), with when they started and their task.
    const shown = matches.slice(-5).reverse();
    const lines = shown.map((r) =>
      `  ${r.runId}  ${formatTime(r.startedAt ?? r.finishedAt)}  ${oneLine(r.task ?? '', 40)}`.trimEnd(),
    );
    throw new CliError(
      [
        `'${idOrPrefix}' matches ${matches.length} runs; give more of the id. ${matches.length > shown.length ? `The latest ${shown.length}:` : 'They are:'}`,
        ...lines,
        `(rlm-obs runs lists them all; add --since or --environment to narrow the list)`,
      ].join('\n'),
      EXIT.usage,
    );
  }
  throw new CliError(
    `no run '${idOrPrefix}' in ${store.dir} (list them with: rlm-obs runs)`,
    EXIT.problem,
  );
}
