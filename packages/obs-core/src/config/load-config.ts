/**
 * Finding and reading the config file with lilconfig: `rlm-obs.config.{ts,mts,js,mjs,cjs,
 * json,yaml,yml}`, `.rlm-obsrc` (JSON or YAML), `.rlm-obsrc.{json,yaml,yml,js,mjs,ts}`, or an
 * `rlmObs` key in package.json, searched from the working directory upwards; an explicit
 * path wins. TypeScript configs load through jiti and YAML through yaml — both optional peer
 * dependencies, so `@rlm/obs-core` itself stays small.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Loader, lilconfig } from 'lilconfig';
import { RlmObsConfigError, suggest } from './config-error.js';
import { interpolateEnv } from './interpolate.js';
import type { RlmObsConfig } from './types.js';

/** Where the loader looks, in order, in each directory. */
export const CONFIG_SEARCH_PLACES = [
  'package.json',
  'rlm-obs.config.ts',
  'rlm-obs.config.mts',
  'rlm-obs.config.js',
  'rlm-obs.config.mjs',
  'rlm-obs.config.cjs',
  'rlm-obs.config.json',
  'rlm-obs.config.yaml',
  'rlm-obs.config.yml',
  '.rlm-obsrc',
  '.rlm-obsrc.json',
  '.rlm-obsrc.yaml',
  '.rlm-obsrc.yml',
  '.rlm-obsrc.js',
  '.rlm-obsrc.mjs',
  '.rlm-obsrc.ts',
] as const;

/** The keys a config may have. */
export const CONFIG_KEYS = [
  'enabled',
  'sinks',
  'attributes',
  'sampling',
  'redact',
  'truncate',
  'queue',
  'exit',
  'recordContent',
  'pricing',
  'worker',
] as const;

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Where the search starts. @defaultValue `process.cwd()` */
  cwd?: string;
  /** An explicit config file (wins over the search); `false` skips config files. */
  configFile?: string | false;
  /** For `${VAR}` interpolation. @defaultValue `process.env` */
  env?: Record<string, string | undefined>;
}

/** A loaded, validated and interpolated config. */
export interface LoadedConfig {
  config: RlmObsConfig;
  /** The file it came from. */
  file: string;
  /** The file's directory: sink names and paths resolve from here. */
  dir: string;
}

let loads = 0;
async function importModule(file: string): Promise<unknown> {
  // A fresh URL per load: a config edited since the last load (tools, watchers, tests) is
  // read again instead of coming from the ESM cache.
  const url = `${pathToFileURL(file).href}?rlm-obs-load=${++loads}`;
  const mod = (await import(url)) as { default?: unknown };
  return mod.default !== undefined ? mod.default : mod;
}

const loadJs: Loader = async (file) => {
  try {
    return await importModule(file);
  } catch (error) {
    throw new RlmObsConfigError(`could not load the config: ${(error as Error).message}`, {
      file,
      cause: error,
    });
  }
};

const loadTs: Loader = async (file) => {
  let jiti: typeof import('jiti');
  try {
    jiti = await import('jiti');
  } catch {
    throw new RlmObsConfigError(
      `loading a TypeScript config needs jiti: ${installCommand(path.dirname(file))} -D jiti (or use rlm-obs.config.mjs)`,
      { file },
    );
  }
  const loader = jiti.createJiti(pathToFileURL(file).href, {
    interopDefault: true,
    moduleCache: false,
  });
  try {
    return await loader.import(file, { default: true });
  } catch (error) {
    throw new RlmObsConfigError(`could not load the config: ${(error as Error).message}`, {
      file,
      cause: error,
    });
  }
};

const loadJson: Loader = (file, content) => {
  try {
    return JSON.parse(content);
  } catch (error) {
    throw new RlmObsConfigError(`malformed JSON: ${(error as Error).message}`, { file });
  }
};

const loadYaml: Loader = async (file, content) => {
  let yaml: typeof import('yaml');
  try {
    yaml = await import('yaml');
  } catch {
    throw new RlmObsConfigError(
      `loading a YAML config needs yaml: ${installCommand(path.dirname(file))} -D yaml (or use JSON)`,
      { file },
    );
  }
  try {
    return yaml.parse(content);
  } catch (error) {
    throw new RlmObsConfigError(`malformed YAML: ${(error as Error).message.split('\n')[0]}`, {
      file,
    });
  }
};

/** `.rlm-obsrc` without an extension: JSON if it parses, else YAML. */
const loadRc: Loader = async (file, content) => {
  const text = content.trim();
  if (text.startsWith('{')) return loadJson(file, content);
  return loadYaml(file, content);
};

const LOADERS: Record<string, Loader> = {
  '.ts': loadTs,
  '.mts': loadTs,
  '.js': loadJs,
  '.mjs': loadJs,
  '.cjs': loadJs,
  '.json': loadJson,
  '.yaml': loadYaml,
  '.yml': loadYaml,
  noExt: loadRc,
};

/**
 * Finds, reads, checks and interpolates the config. Returns `undefined` when there is none.
 * Throws {@link RlmObsConfigError} naming the file and the key when something is wrong.
 */
export async function loadConfig(
  options: LoadConfigOptions = {},
): Promise<LoadedConfig | undefined> {
  if (options.configFile === false) return undefined;
  const env = options.env ?? process.env;
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const explorer = lilconfig('rlm-obs', {
    searchPlaces: [...CONFIG_SEARCH_PLACES],
    packageProp: 'rlmObs',
    loaders: LOADERS,
    // An empty config file is a config with the defaults, found or given (`--config`) alike;
    // skipping it when found would fall back to the environment's seed flags unannounced.
    ignoreEmptySearchPlaces: false,
  });
  let result: { filepath: string; config: unknown; isEmpty?: boolean } | null;
  const explicit = options.configFile ? path.resolve(cwd, options.configFile) : undefined;
  try {
    if (explicit) {
      if (!existsSync(explicit))
        throw new RlmObsConfigError('config file not found', { file: explicit });
      result = await explorer.load(explicit);
    } else {
      result = await explorer.search(cwd);
    }
  } catch (error) {
    if (error instanceof RlmObsConfigError) throw error;
    const file = explicit ?? (error as { filepath?: string }).filepath;
    throw new RlmObsConfigError(`could not read the config: ${(error as Error).message}`, {
      file,
      cause: error,
    });
  }
  if (!result) return undefined;
  const file = result.filepath;
  const config = validate(result.config ?? {}, file);
  return { config: interpolateEnv(config, env, file), file, dir: path.dirname(file) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `worker` object's numeric options (each a number >= 0). */
const REDACT_KEYS = ['keys', 'patterns', 'urlCredentials', 'defaultKeys', 'marker'];
const EXIT_KEYS = ['flushOnExit', 'timeoutMs', 'graceMs', 'handleSignals'];
const WORKER_NUMBER_KEYS = ['postDelayMs', 'maxInFlight', 'nice', 'warmUpMs', 'youngGenerationMb'];
const WORKER_KEYS = ['sinks', 'threads', ...WORKER_NUMBER_KEYS];

function validate(raw: unknown, file: string): RlmObsConfig {
  const fail = (message: string, key?: string): never => {
    throw new RlmObsConfigError(message, { file, key });
  };
  if (!isObject(raw))
    fail(`the config must be an object (got ${Array.isArray(raw) ? 'an array' : typeof raw})`);
  const config = raw as Record<string, unknown>;
  for (const key of Object.keys(config)) {
    if ((CONFIG_KEYS as readonly string[]).includes(key)) continue;
    const hint = suggest(key, CONFIG_KEYS);
    fail(
      `unknown key '${key}'${hint ? `; did you mean '${hint}'?` : '.'} Known keys: ${CONFIG_KEYS.join(', ')}`,
      key,
    );
  }
  if (config.enabled !== undefined && typeof config.enabled !== 'boolean')
    fail('must be true or false', 'enabled');
  if (config.sinks !== undefined && !Array.isArray(config.sinks))
    fail('must be a list of sinks', 'sinks');
  if (config.attributes !== undefined && !isObject(config.attributes))
    fail('must be an object', 'attributes');
  if (
    config.recordContent !== undefined &&
    typeof config.recordContent !== 'boolean' &&
    !(
      isObject(config.recordContent) &&
      Object.entries(config.recordContent).every(
        ([k, v]) => (k === 'inputs' || k === 'outputs') && typeof v === 'boolean',
      )
    )
  )
    fail('must be true, false or { inputs?: boolean, outputs?: boolean }', 'recordContent');
  if (config.pricing !== undefined && typeof config.pricing !== 'boolean')
    fail('must be true or false', 'pricing');
  const rate = (value: unknown, key: string): void => {
    if (typeof value !== 'number' || !(value >= 0 && value <= 1))
      fail(`must be a number from 0 to 1 (got ${JSON.stringify(value)})`, key);
  };
  if (config.sampling !== undefined) {
    if (!isObject(config.sampling)) fail('must be an object like { rate: 0.1 }', 'sampling');
    const sampling = config.sampling as Record<string, unknown>;
    for (const key of Object.keys(sampling))
      if (key !== 'rate' && key !== 'sinks')
        fail(`unknown key '${key}'; use rate or sinks`, `sampling.${key}`);
    if (sampling.rate !== undefined) rate(sampling.rate, 'sampling.rate');
    if (sampling.sinks !== undefined) {
      if (!isObject(sampling.sinks))
        fail("must map sink names to rates, like { 'local-jsonl': 1 }", 'sampling.sinks');
      for (const [name, value] of Object.entries(sampling.sinks as object))
        rate(value, `sampling.sinks.${name}`);
    }
  }
  if (config.redact !== undefined && config.redact !== false) {
    if (!isObject(config.redact)) fail('must be false or an object like { keys: [...] }', 'redact');
    const redact = config.redact as Record<string, unknown>;
    for (const [k, v] of Object.entries(redact)) {
      if (k === 'keys' || k === 'patterns') {
        const what = k === 'keys' ? 'key names' : 'patterns';
        if (!Array.isArray(v))
          fail(
            `must be a list of ${what}, like ${k === 'keys' ? "['customer_email']" : "['sk-[A-Za-z0-9]{20,}']"} (got ${JSON.stringify(v)})`,
            `redact.${k}`,
          );
        (v as unknown[]).forEach((item, i) => {
          if (typeof item === 'string') {
            if (item === '') fail('must not be empty', `redact.${k}[${i}]`);
            if (k === 'patterns') {
              try {
                new RegExp(item);
              } catch (error) {
                fail(
                  `is not a valid regular expression: ${(error as Error).message}`,
                  `redact.${k}[${i}]`,
                );
              }
            }
          } else if (!(item instanceof RegExp))
            fail(`must be a string or a RegExp (got ${JSON.stringify(item)})`, `redact.${k}[${i}]`);
        });
      } else if (k === 'urlCredentials' || k === 'defaultKeys') {
        if (typeof v !== 'boolean') fail('must be true or false', `redact.${k}`);
      } else if (k === 'marker') {
        if (typeof v !== 'string' || v === '') fail('must be a non-empty string', `redact.${k}`);
      } else {
        const hint = suggest(k, REDACT_KEYS);
        fail(
          `unknown key '${k}'${hint ? `; did you mean '${hint}'?` : '.'} Known keys: ${REDACT_KEYS.join(', ')}`,
          `redact.${k}`,
        );
      }
    }
  }
  const numbers = (key: string, allowed: string[]): void => {
    const value = config[key];
    if (value === undefined) return;
    if (!isObject(value)) fail(`must be an object with ${allowed.join(', ')}`, key);
    for (const [k, v] of Object.entries(value as object)) {
      if (!allowed.includes(k))
        fail(`unknown key '${k}'; use ${allowed.join(', ')}`, `${key}.${k}`);
      if (typeof v !== 'number' || !(v > 0))
        fail(`must be a positive number (got ${JSON.stringify(v)})`, `${key}.${k}`);
    }
  };
  numbers('truncate', ['maxStringLength', 'maxDepth', 'maxArrayLength', 'maxObjectKeys']);
  numbers('queue', ['maxQueueSize', 'callTimeoutMs']);
  if (config.exit !== undefined) {
    if (!isObject(config.exit)) fail(`must be an object with ${EXIT_KEYS.join(', ')}`, 'exit');
    const exit = config.exit as Record<string, unknown>;
    for (const key of Object.keys(exit)) {
      if (!EXIT_KEYS.includes(key)) fail(`unknown key '${key}'`, `exit.${key}`);
    }
    if (exit.flushOnExit !== undefined && typeof exit.flushOnExit !== 'boolean')
      fail('must be true or false', 'exit.flushOnExit');
    const signals = exit.handleSignals;
    if (signals !== undefined && typeof signals !== 'boolean') {
      if (!Array.isArray(signals))
        fail(
          `must be true, false or a list of signal names like ['SIGTERM', 'SIGINT'] (got ${JSON.stringify(signals)})`,
          'exit.handleSignals',
        );
      (signals as unknown[]).forEach((signal, i) => {
        if (typeof signal !== 'string' || !(signal in os.constants.signals))
          fail(
            `is not a signal name (got ${JSON.stringify(signal)}; for example 'SIGTERM')`,
            `exit.handleSignals[${i}]`,
          );
      });
    }
    if (exit.timeoutMs !== undefined && !(typeof exit.timeoutMs === 'number' && exit.timeoutMs > 0))
      fail('must be a positive number', 'exit.timeoutMs');
    const grace = exit.graceMs;
    if (grace !== undefined && grace !== false && !(typeof grace === 'number' && grace >= 0))
      fail('must be a number of milliseconds (0 or more) or false', 'exit.graceMs');
  }
  if (config.worker !== undefined) {
    const worker = config.worker;
    const names = (value: unknown, key: string): void => {
      if (!Array.isArray(value) || !value.every((n) => typeof n === 'string'))
        fail("must be a list of sink names like ['otel', 'langsmith']", key);
    };
    if (Array.isArray(worker)) names(worker, 'worker');
    else if (isObject(worker)) {
      for (const [k, v] of Object.entries(worker as Record<string, unknown>)) {
        if (k === 'sinks') names(v, 'worker.sinks');
        else if (k === 'threads') {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
            fail(`must be a whole number >= 1 (got ${JSON.stringify(v)})`, 'worker.threads');
        } else if (WORKER_NUMBER_KEYS.includes(k)) {
          if (typeof v !== 'number' || !(v >= 0))
            fail(`must be a number >= 0 (got ${JSON.stringify(v)})`, `worker.${k}`);
        } else fail(`unknown key '${k}'; use ${WORKER_KEYS.join(', ')}`, `worker.${k}`);
      }
    } else if (typeof worker !== 'boolean')
      fail(`must be true, false, a list of sink names or { ${WORKER_KEYS.join(', ')} }`, 'worker');
  }
  return config as RlmObsConfig;
}

/** `pnpm add`, `yarn add`, `bun add` or `npm install`, from the lockfile found upwards. */
export function installCommand(dir: string): string {
  let current = path.resolve(dir);
  for (;;) {
    for (const [lock, command] of [
      ['pnpm-lock.yaml', 'pnpm add'],
      ['yarn.lock', 'yarn add'],
      ['bun.lockb', 'bun add'],
      ['bun.lock', 'bun add'],
      ['package-lock.json', 'npm install'],
    ] as const) {
      if (existsSync(path.join(current, lock))) return command;
    }
    const parent = path.dirname(current);
    if (parent === current) return 'npm install';
    current = parent;
  }
}
