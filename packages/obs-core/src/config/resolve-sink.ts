/**
 * Turning a `sinks` entry into a sink: a short name, `[name, options]`, `{ use, options }`, a
 * relative path, or an already-imported factory, module or sink object.
 *
 * A short name `x` resolves to `@rlm/sink-x`, then `rlm-sink-x`; `@scope` to
 * `@scope/rlm-sink`; `@scope/name`, other package names and paths are used as given. Names
 * resolve from the config file's directory (exsolve implements Node's ESM resolution with a
 * chosen parent), so it works under pnpm's strict node_modules and in a consumer project.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveModuleURL } from 'exsolve';
import type { RLMObservabilitySink } from '../contract.js';
import { isSinkLike } from '../coordinator.js';
import { createRedactor } from '../redact.js';
import { RlmObsConfigError, suggest } from './config-error.js';
import { installCommand } from './load-config.js';
import { rememberOptionSecrets, scrubError } from './secrets.js';
import type { SinkContext, SinkEntry, SinkFactory, SinkModule, StandardSchemaV1 } from './types.js';

/** Where an entry came from, for error messages. */
export interface EntryLocation {
  file?: string | undefined;
  key: string;
}

/** The package names a sink name stands for, in the order they are tried. */
export function sinkCandidates(name: string): string[] {
  if (isPath(name)) return [name];
  if (name.startsWith('@')) {
    return name.includes('/') ? [name] : [`${name}/rlm-sink`];
  }
  if (name.includes('/') || name.startsWith('rlm-sink-')) return [name];
  return [`@rlm/sink-${name}`, `rlm-sink-${name}`];
}

function isPath(name: string): boolean {
  return (
    name.startsWith('./') ||
    name.startsWith('../') ||
    name.startsWith('/') ||
    name.startsWith('file:') ||
    /^[A-Za-z]:[\\/]/.test(name)
  );
}

/**
 * Resolves a sink name to a module URL, or `undefined` when nothing is installed under it.
 * Looks from `fromDir` first, then from each of `fallbackDirs`.
 */
export function resolveSinkModule(
  name: string,
  fromDir: string,
  fallbackDirs: readonly string[] = [],
): { url: string; specifier: string } | undefined {
  if (isPath(name)) {
    const file = name.startsWith('file:') ? name : pathToFileURL(path.resolve(fromDir, name)).href;
    const url = resolveModuleURL(file, {
      try: true,
      from: pathToFileURL(`${fromDir}/`).href,
      extensions: ['.js', '.mjs', '.cjs', '.ts', '.mts'],
    });
    return url ? { url, specifier: name } : undefined;
  }
  for (const dir of [fromDir, ...fallbackDirs]) {
    for (const specifier of sinkCandidates(name)) {
      const url = resolveModuleURL(specifier, { try: true, from: pathToFileURL(`${dir}/`).href });
      if (url) return { url, specifier };
    }
  }
  return undefined;
}

/**
 * Config errors quote what a module, a schema or a factory said: without the environment's
 * secrets, the sink's option secrets or URL credentials (a factory that checks its backend
 * may fail with `https://user:pass@host` in its message).
 */
function scrubberFor(context: SinkContext, options?: unknown): (text: string) => string {
  const redactor = createRedactor({ env: context.env });
  if (options !== undefined) rememberOptionSecrets(redactor, options);
  return redactor.scrub;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * This project's sinks by the names a config may use for them (their short names), and the
 * names `status()` shows for two of them, which are not names a config resolves.
 */
const OWN_SHORT_NAMES = ['jsonl', 'otel', 'logfire', 'langfuse', 'langsmith', 'mlflow'] as const;
const STATUS_NAMES: Readonly<Record<string, string>> = {
  'local-jsonl': 'jsonl',
  opentelemetry: 'otel',
};

/**
 * The message for a sink that is not installed, with the fix: the install command for one of
 * this project's sinks; the short name for a sink's status name (`opentelemetry` → `otel`);
 * the closest of this project's names for a likely typo (`jsnol`); for any other name, the
 * packages it would be (a third-party sink is `rlm-sink-<name>`).
 */
export function notInstalledMessage(name: string, fromDir: string): string {
  if (isPath(name))
    return `sink '${name}' was not found: no file at ${path.resolve(fromDir, name)}`;
  const candidates = sinkCandidates(name);
  const install = installCommand(fromDir);
  if (candidates.length === 1 || (OWN_SHORT_NAMES as readonly string[]).includes(name))
    return `sink '${name}' is not installed: ${install} ${candidates[0]}`;
  const known = STATUS_NAMES[name.toLowerCase()];
  if (known)
    return `sink '${name}' is not installed: '${name}' is the name its status shows; in a config it is '${known}' (${install} @rlm/sink-${known})`;
  const hint = suggest(name, OWN_SHORT_NAMES);
  const would = `no package ${candidates.join(' or ')} here`;
  return hint
    ? `sink '${name}' is not installed (${would}); did you mean '${hint}'?`
    : `sink '${name}' is not installed (${would}); a third-party sink installs with: ${install} ${candidates[1]}`;
}

async function importSinkModule(
  name: string,
  location: EntryLocation,
  context: SinkContext,
): Promise<SinkModule> {
  const fromDir = context.configDir;
  const found = resolveSinkModule(name, fromDir, context.fallbackDirs);
  if (!found) throw new RlmObsConfigError(notInstalledMessage(name, fromDir), location);
  const typescript = /\.(m?ts)$/.test(found.url);
  let jiti: typeof import('jiti') | undefined;
  if (typescript) {
    try {
      jiti = await import('jiti');
    } catch {
      // The same fix as for a TypeScript config file (load-config.ts).
      throw new RlmObsConfigError(
        `loading a TypeScript sink ('${name}') needs jiti: ${installCommand(fromDir)} -D jiti (or compile the sink to .js)`,
        location,
      );
    }
  }
  try {
    if (jiti) return (await jiti.createJiti(found.url).import(found.url)) as SinkModule;
    return (await import(found.url)) as SinkModule;
  } catch (error) {
    const scrub = scrubberFor(context);
    throw new RlmObsConfigError(scrub(`sink '${name}' failed to load: ${messageOf(error)}`), {
      ...location,
      cause: scrubError(error, scrub),
    });
  }
}

function factoryOf(mod: SinkModule): SinkFactory | RLMObservabilitySink | undefined {
  if (typeof mod.createSink === 'function') return mod.createSink;
  const fallback = mod.default;
  if (typeof fallback === 'function') return fallback as SinkFactory;
  if (isSinkLike(fallback)) return fallback;
  if (fallback && typeof fallback === 'object' && typeof fallback.createSink === 'function')
    return fallback.createSink;
  return undefined;
}

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as StandardSchemaV1)['~standard']?.validate === 'function'
  );
}

function issuePath(issue: {
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined;
}): string {
  return (issue.path ?? [])
    .map((part) => (typeof part === 'object' ? part.key : part))
    .map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`))
    .join('');
}

async function validateOptions(
  schema: unknown,
  options: Record<string, unknown>,
  name: string,
  location: EntryLocation,
  context: SinkContext,
): Promise<Record<string, unknown>> {
  if (!isStandardSchema(schema)) return options;
  const result = await schema['~standard'].validate(options);
  if (result.issues) {
    const [first] = result.issues;
    const key = `${location.key}.options${first ? issuePath(first) : ''}`;
    // The other issues with their keys: "(and 1 more)" would leave the user guessing which.
    const rest = result.issues
      .slice(1, 6)
      .map((issue) => `options${issuePath(issue)}: ${issue.message}`);
    const beyond = result.issues.length > 6 ? `; and ${result.issues.length - 6} more` : '';
    const more = rest.length > 0 ? ` (also ${rest.join('; ')}${beyond})` : '';
    const scrub = scrubberFor(context, options);
    throw new RlmObsConfigError(
      scrub(`invalid options for sink '${name}': ${first?.message ?? 'invalid'}${more}`),
      {
        file: location.file,
        key,
      },
    );
  }
  return (result.value ?? options) as Record<string, unknown>;
}

async function build(
  target: SinkFactory | RLMObservabilitySink,
  options: Record<string, unknown>,
  context: SinkContext,
  name: string,
  location: EntryLocation,
): Promise<RLMObservabilitySink> {
  if (isSinkLike(target)) return target;
  let sink: unknown;
  try {
    sink = await target(options, context);
  } catch (error) {
    const scrub = scrubberFor(context, options);
    throw new RlmObsConfigError(scrub(`sink '${name}' could not be created: ${messageOf(error)}`), {
      ...location,
      cause: scrubError(error, scrub),
    });
  }
  if (!isSinkLike(sink)) {
    throw new RlmObsConfigError(
      `createSink of '${name}' returned something that is not a sink (it needs name, status(), onRunStart(), onStep(), onRunEnd())`,
      location,
    );
  }
  return sink;
}

/**
 * Creates the sink an entry describes. Returns `undefined` for a falsy entry (a sink toggled
 * off inline).
 */
export async function resolveSinkEntry(
  entry: SinkEntry,
  location: EntryLocation,
  context: SinkContext,
): Promise<RLMObservabilitySink | undefined> {
  if (!entry) return undefined;
  if (isSinkLike(entry)) return entry;
  if (typeof entry === 'function')
    return build(entry as SinkFactory, {}, context, entry.name || 'factory', location);
  let use: unknown;
  let options: unknown = {};
  if (typeof entry === 'string') {
    use = entry;
  } else if (Array.isArray(entry)) {
    [use, options = {}] = entry;
  } else if (typeof entry === 'object' && 'use' in entry) {
    use = entry.use;
    options = entry.options ?? {};
  } else {
    throw new RlmObsConfigError(
      'expected a sink name, [name, options], { use, options }, a factory or a sink object',
      location,
    );
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new RlmObsConfigError('options must be an object', {
      file: location.file,
      key: `${location.key}.options`,
    });
  }
  const opts = options as Record<string, unknown>;
  if (typeof use === 'string') {
    if (use.trim() === '') throw new RlmObsConfigError('the sink name is empty', location);
    const mod = await importSinkModule(use, location, context);
    const target = factoryOf(mod);
    if (!target) {
      throw new RlmObsConfigError(
        `sink '${use}' exports no createSink (a sink package exports createSink(options, context), also as its default export)`,
        location,
      );
    }
    return build(
      target,
      await validateOptions(mod.optionsSchema, opts, use, location, context),
      context,
      use,
      location,
    );
  }
  if (isSinkLike(use)) return use;
  if (typeof use === 'function')
    return build(use as SinkFactory, opts, context, use.name || 'factory', location);
  if (use && typeof use === 'object') {
    const mod = use as SinkModule;
    const target = factoryOf(mod);
    if (target)
      return build(
        target,
        await validateOptions(mod.optionsSchema, opts, 'module', location, context),
        context,
        'module',
        location,
      );
  }
  throw new RlmObsConfigError(
    "'use' must be a package name, a path, a factory, a sink module or a sink object",
    {
      file: location.file,
      key: `${location.key}.use`,
    },
  );
}
