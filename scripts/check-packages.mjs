#!/usr/bin/env node
/**
 * Checks every published package's shape (STYLE.md "Packaging"), then runs publint and
 * arethetypeswrong on each. Run after `pnpm build`.
 *
 * - ESM-only, engines.node >= 20.19, sideEffects false, `types` first in every export,
 *   `./package.json` exported, files = dist + README + CHANGELOG.
 * - @rlm/obs-core is a PEER dependency (and a devDependency) of every sink, never a normal
 *   one; core depends on no sink; a sink never depends on another sink.
 * - Sinks carry the `rlm-obs-sink` keyword; src/index.ts has no `export *`.
 * - The peer range on @rlm/obs-core spans the 0.x minors (`>=0.1.0 <1.0.0`), so a core minor
 *   does not force a major bump of every sink through changesets.
 * - Every `.changeset/*.md` has front matter naming published packages and a bump, and a body.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const packagesDir = path.join(root, 'packages');
const problems = [];
const skipTools = process.argv.includes('--no-tools');

const published = new Set();
for (const name of fs.readdirSync(packagesDir)) {
  const file = path.join(packagesDir, name, 'package.json');
  if (!fs.existsSync(file)) continue;
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!pkg.private) published.add(pkg.name);
}

const changesetDir = path.join(root, '.changeset');
for (const name of fs.readdirSync(changesetDir).sort()) {
  if (!name.endsWith('.md') || name === 'README.md') continue;
  const text = fs.readFileSync(path.join(changesetDir, name), 'utf8');
  const fail = (message) => problems.push(`.changeset/${name}: ${message}`);
  const match = /^---\n((?:"[^"\n]+": (?:major|minor|patch)\n)+)---\n([\s\S]*)$/.exec(text);
  if (!match) {
    fail('front matter must be `---`, one `"<package>": <bump>` line per package, `---`');
    continue;
  }
  for (const line of match[1].trim().split('\n')) {
    const pkgName = line.slice(1, line.indexOf('"', 1));
    if (!published.has(pkgName)) fail(`"${pkgName}" is not a published package`);
  }
  if (match[2].trim() === '') fail('the summary is empty');
}

for (const name of fs.readdirSync(packagesDir).sort()) {
  const dir = path.join(packagesDir, name);
  const file = path.join(dir, 'package.json');
  if (!fs.existsSync(file)) continue;
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (pkg.private) continue;
  const fail = (message) => problems.push(`${pkg.name}: ${message}`);
  if (pkg.type !== 'module') fail('"type" must be "module"');
  if (pkg.engines?.node !== '>=20.19') fail('"engines.node" must be ">=20.19"');
  if (pkg.sideEffects !== false) fail('"sideEffects" must be false');
  if (!pkg.exports?.['./package.json']) fail('"./package.json" must be exported');
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    if (typeof target === 'object' && Object.keys(target)[0] !== 'types')
      fail(`exports["${subpath}"]: "types" must come first`);
  }
  for (const entry of ['dist', 'README.md', 'CHANGELOG.md']) {
    if (!pkg.files?.includes(entry)) fail(`"files" must include ${entry}`);
  }
  if (!fs.existsSync(path.join(dir, 'README.md'))) fail('README.md is missing');
  const deps = Object.keys(pkg.dependencies ?? {});
  const isSink = pkg.name.startsWith('@rlm/sink-');
  if (isSink) {
    if (!pkg.peerDependencies?.['@rlm/obs-core']) fail('@rlm/obs-core must be a peerDependency');
    else if (pkg.peerDependencies['@rlm/obs-core'] !== 'workspace:>=0.1.0 <1.0.0')
      fail('the @rlm/obs-core peer range must be "workspace:>=0.1.0 <1.0.0"');
    if (!pkg.devDependencies?.['@rlm/obs-core']) fail('@rlm/obs-core must also be a devDependency');
    if (deps.includes('@rlm/obs-core')) fail('@rlm/obs-core must not be a normal dependency');
    if (!pkg.keywords?.includes('rlm-obs-sink')) fail('the "rlm-obs-sink" keyword is missing');
  }
  // The CLI may use the local files directly; every other sink it reaches through the loader.
  const allowedSinks = pkg.name === '@rlm/obs-cli' ? ['@rlm/sink-jsonl'] : [];
  for (const dep of [...deps, ...Object.keys(pkg.peerDependencies ?? {})]) {
    if (dep.startsWith('@rlm/sink-') && !allowedSinks.includes(dep)) {
      fail(
        `must not depend on the sink ${dep} (arrows point sinks → core; the CLI reaches sinks through the loader)`,
      );
    }
  }
  const index = path.join(dir, 'src', 'index.ts');
  if (fs.existsSync(index) && /^export \*/m.test(fs.readFileSync(index, 'utf8'))) {
    fail('src/index.ts uses `export *`; list the exports by name');
  }
  if (!skipTools) {
    for (const [tool, args] of [
      ['publint', ['--strict']],
      ['attw', ['--pack', '.', '--profile', 'esm-only']],
    ]) {
      try {
        execFileSync(path.join(root, 'node_modules', '.bin', tool), args, {
          cwd: dir,
          stdio: 'pipe',
        });
      } catch (error) {
        fail(`${tool} failed:\n${error.stdout?.toString() ?? ''}${error.stderr?.toString() ?? ''}`);
      }
    }
  }
  console.log(`checked ${pkg.name}`);
}

if (problems.length > 0) {
  console.error(`\n${problems.length} package problem(s):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log('all packages are well-formed');
