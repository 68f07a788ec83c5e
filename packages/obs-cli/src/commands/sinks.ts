import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envFlag, loadConfig, RlmObsConfigError, SEED_SINKS, sinkCandidates } from '@rlm/obs-core';
import { CliError, configErrorMessage, EXIT, type GlobalOptions } from '../context.js';
import { type Io, oneLine, printable, printJson, table } from '../output.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

interface InstalledSink {
  package: string;
  version: string;
  description: string;
  path: string;
  /** Found through rlm-obs's own dependencies, not the project's (it loads from there too). */
  bundled?: boolean;
  configured: boolean;
}

interface PackageJson {
  name?: string;
  version?: string;
  description?: string;
  keywords?: unknown;
  dependencies?: Record<string, string>;
}

function readPackage(dir: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Packages with the `rlm-obs-sink` keyword in every node_modules from `start` upwards. */
export function findInstalledSinks(start: string): Array<Omit<InstalledSink, 'configured'>> {
  const found = new Map<string, Omit<InstalledSink, 'configured'>>();
  let dir = path.resolve(start);
  for (;;) {
    const modules = path.join(dir, 'node_modules');
    if (existsSync(modules)) {
      for (const entry of readdirSync(modules)) {
        if (entry.startsWith('.')) continue;
        const dirs = entry.startsWith('@')
          ? readdirSync(path.join(modules, entry)).map((sub) => path.join(modules, entry, sub))
          : [path.join(modules, entry)];
        for (const pkgDir of dirs) {
          const pkg = readPackage(pkgDir);
          if (!pkg?.name || found.has(pkg.name)) continue;
          if (Array.isArray(pkg.keywords) && pkg.keywords.includes('rlm-obs-sink')) {
            found.set(pkg.name, {
              package: pkg.name,
              version: pkg.version ?? '?',
              description: pkg.description ?? '',
              path: pkgDir,
            });
          }
        }
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return [...found.values()].sort((a, b) => a.package.localeCompare(b.package));
}

/**
 * The sink packages among rlm-obs's own dependencies (`@rlm/sink-jsonl`): the commands load
 * them from there when the project has none (`loadContext`'s fallback), so they are
 * available everywhere the CLI runs. `from` is a directory inside the CLI package.
 */
export function findBundledSinks(from: string = HERE): Array<Omit<InstalledSink, 'configured'>> {
  let root: string | undefined;
  let own: PackageJson | undefined;
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const pkg = readPackage(dir);
    if (pkg?.name === '@rlm/obs-cli') {
      root = dir;
      own = pkg;
      break;
    }
    if (path.dirname(dir) === dir) return [];
  }
  const found: Array<Omit<InstalledSink, 'configured'>> = [];
  for (const name of Object.keys(own.dependencies ?? {})) {
    // Where Node resolves it from the CLI: the nearest node_modules upwards that has it.
    for (let dir = root; ; dir = path.dirname(dir)) {
      const pkgDir = path.join(dir, 'node_modules', ...name.split('/'));
      const pkg = readPackage(pkgDir);
      if (pkg?.name === name) {
        if (Array.isArray(pkg.keywords) && pkg.keywords.includes('rlm-obs-sink'))
          found.push({
            package: name,
            version: pkg.version ?? '?',
            description: pkg.description ?? '',
            path: pkgDir,
            bundled: true,
          });
        break;
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  return found.sort((a, b) => a.package.localeCompare(b.package));
}

/** `rlm-obs sinks`: the sink packages installed and which of them are configured. */
export async function sinksCommand(options: GlobalOptions, io: Io): Promise<number> {
  let configured: Set<string>;
  let source: string;
  try {
    const loaded = await loadConfig(options.config ? { configFile: options.config } : {});
    if (loaded) {
      source = `config: ${loaded.file}`;
      configured = new Set(
        (loaded.config.sinks ?? ['jsonl']).flatMap((entry) => {
          const name =
            typeof entry === 'string'
              ? entry
              : Array.isArray(entry)
                ? entry[0]
                : entry &&
                    typeof entry === 'object' &&
                    'use' in entry &&
                    typeof entry.use === 'string'
                  ? entry.use
                  : undefined;
          return typeof name === 'string' ? sinkCandidates(name) : [];
        }),
      );
    } else {
      source = 'config: none (seed environment variables)';
      const master = envFlag(process.env.DSPY_RLM_OBS_ENABLED, true);
      configured = new Set(
        SEED_SINKS.filter((s) => master && envFlag(process.env[s.flag], s.defaultOn)).map(
          (s) => s.packageName,
        ),
      );
    }
  } catch (error) {
    if (error instanceof RlmObsConfigError)
      throw new CliError(configErrorMessage(error), EXIT.usage);
    throw error;
  }
  // The project's packages, then those that come with rlm-obs (a project's own copy wins).
  const local = findInstalledSinks(process.cwd());
  const bundled = findBundledSinks().filter((b) => !local.some((s) => s.package === b.package));
  const installed = [...local, ...bundled].map((s) => ({
    ...s,
    configured: configured.has(s.package),
  }));
  if (options.json) {
    printJson(io, {
      installed,
      configuredButMissing: [...configured].filter(
        (n) => !installed.some((s) => s.package === n) && n.startsWith('@rlm/'),
      ),
    });
    return EXIT.ok;
  }
  const c = io.colors;
  io.out(c.dim(source));
  if (installed.length === 0) {
    io.out(
      'no sink packages installed here (packages with the "rlm-obs-sink" keyword); try: pnpm add @rlm/sink-jsonl',
    );
    return EXIT.ok;
  }
  if (local.length === 0) io.out('no sink packages installed here; these come with rlm-obs:');
  io.out(
    table(
      ['package', 'version', 'configured', 'description'],
      installed.map((s) => [
        printable(s.package),
        printable(s.version),
        s.configured ? c.green('yes') : c.dim('no'),
        s.bundled
          ? `${c.dim('bundled with rlm-obs')}: ${oneLine(s.description, 40)}`
          : oneLine(s.description, 60),
      ]),
      { width: io.columns, min: [undefined, undefined, undefined, 20] },
    ),
  );
  return EXIT.ok;
}
