import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A temporary project: files by relative path; removed by `remove()`. */
export function makeProject(files: Record<string, string>): {
  dir: string;
  remove: () => void;
  write: (rel: string, text: string) => void;
} {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-config-')));
  const write = (rel: string, text: string): void => {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  };
  for (const [rel, text] of Object.entries(files)) write(rel, text);
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }), write };
}

/**
 * A fake sink package: records calls in a global array so tests can see them; its status
 * echoes the options and the env settings it was built from.
 */
export function fakeSinkPackage(
  name: string,
  sinkName: string,
  extra = '',
): Record<string, string> {
  const dir = `node_modules/${name}`;
  return {
    [`${dir}/package.json`]: JSON.stringify({
      name,
      version: '1.0.0',
      type: 'module',
      exports: { '.': './index.js' },
      keywords: ['rlm-obs-sink'],
    }),
    [`${dir}/index.js`]: `
const calls = (globalThis.__rlmObsFakeCalls ??= []);
export function createSink(options = {}, context = {}) {
  const sink = {
    name: options.name ?? ${JSON.stringify(sinkName)},
    options,
    context,
    shutdowns: 0,
    status() { return { name: this.name, enabled: true, available: true, detail: ${JSON.stringify(name)}, options: JSON.stringify(options), configDir: context.configDir }; },
    onRunStart(runId, start) { calls.push([this.name, 'start', runId, start]); },
    onStep(runId, step) { calls.push([this.name, 'step', runId, step]); },
    onRunEnd(runId, end) { calls.push([this.name, 'end', runId, end]); },
    async shutdown() { this.shutdowns++; calls.push([this.name, 'shutdown']); },
  };
  return sink;
}
export default createSink;
${extra}
`,
  };
}

/** A fake seed sink package whose fromEnv reports what it read from the environment. */
export function fakeSeedPackage(
  name: string,
  sinkName: string,
  flag: string,
  settings: string[],
): Record<string, string> {
  return fakeSinkPackage(
    name,
    sinkName,
    `export function fromEnv(env) {
  const enabled = ['1', 'true', 'yes', 'on'].includes(String(env.${flag} ?? '').toLowerCase()) && env.DSPY_RLM_OBS_ENABLED !== 'false';
  const seen = {};
  for (const key of ${JSON.stringify(settings)}) if (env[key] !== undefined) seen[key] = /KEY|TOKEN/.test(key) ? 'set' : env[key];
  const sink = createSink({}, {});
  sink.status = () => ({ name: ${JSON.stringify(sinkName)}, enabled, available: enabled, detail: enabled ? 'from env' : 'disabled', seen });
  return sink;
}`,
  );
}
