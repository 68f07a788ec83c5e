/**
 * examples/config-driven: its config switches each remote sink on when that sink's settings
 * are in the environment, so the example must have the sink packages to load. Here it runs
 * once with the OpenTelemetry sink pointed at a local OTLP/HTTP receiver: the sink loads
 * (from the example's own dependencies) and delivers the runs.
 *
 * The example is copied to a temporary directory (its config writes the local files next to
 * itself), with its node_modules linked, and runs as `node index.mjs` would.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpReceiver, startHttpReceiver } from '../../packages/otel-common/test/receivers.js';
import { runNode } from './exit-processes.js';

const example = fileURLToPath(new URL('../../examples/config-driven/', import.meta.url));

let receiver: HttpReceiver;
let tmp: string;

beforeAll(async () => {
  receiver = await startHttpReceiver();
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-config-driven-')));
  for (const file of ['index.mjs', 'rlm-obs.config.mjs', 'package.json'])
    fs.copyFileSync(path.join(example, file), path.join(tmp, file));
  fs.symlinkSync(path.join(example, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
});

afterAll(async () => {
  await receiver?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The environment without any sink's settings, so only the ones a test sets switch on. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (
      !/^(OTEL_|LOGFIRE_|LANGFUSE_|LANGSMITH_|LANGCHAIN_|MLFLOW_|HOOK_URL$|DSPY_RLM_|RLM_OBS_)/.test(
        key,
      )
    )
      env[key] = value;
  return { ...env, ...extra };
}

describe('examples/config-driven', () => {
  it('loads a remote sink switched on from the environment (OpenTelemetry) and delivers to it', async () => {
    const out = await runNode(path.join(tmp, 'index.mjs'), {
      cwd: tmp,
      env: cleanEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      }),
    });
    expect(out.stderr).not.toContain('is not installed');
    expect(out.code, out.stdout + out.stderr).toBe(0);
    expect(out.stdout).toMatch(/ {2}local-jsonl: enabled=true available=true/);
    expect(out.stdout).toMatch(/ {2}opentelemetry: enabled=true available=true/);
    const delivered = /^opentelemetry: (\d+) delivered, 0 failed, 0 dropped$/m.exec(out.stdout);
    expect(delivered, out.stdout).not.toBeNull();
    expect(Number(delivered![1])).toBeGreaterThan(0);
    // The runs reached the receiver as spans; the local files were written next to the config.
    const runSpans = receiver.spans.filter((s) => s.name === 'rlm.run');
    expect(runSpans.length).toBeGreaterThanOrEqual(2);
    expect(receiver.spans.some((s) => s.name === 'rlm.step')).toBe(true);
    expect(fs.existsSync(path.join(tmp, '.rlm_code', 'rlm', 'observability', 'runs.jsonl'))).toBe(
      true,
    );
  });
});
