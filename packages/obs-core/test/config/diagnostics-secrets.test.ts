/**
 * The diagnostics (status details, warnings, config errors) never carry a secret from a sink's
 * options, whichever thread the sink runs in and whatever `redact` says about event data.
 * Worker tests use the built dist/sink-worker.js.
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { RlmObsConfigError } from '../../src/config/config-error.js';
import { loadObservability } from '../../src/config/load-observability.js';
import { optionSecrets } from '../../src/config/secrets.js';
import { createWorkerSinks } from '../../src/worker/worker-sinks.js';
import { makeProject } from './project.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
function project(files: Record<string, string>) {
  const p = makeProject(files);
  cleanups.push(p.remove);
  return p;
}
const quiet = { flushOnExit: false, logger: false } as const;

/** A sink that repeats its options in its status and its warnings (as echoing backends do). */
const ECHO_SINK = `
const seen = (globalThis.__diagnosticsSecretsEvents ??= []);
export function createSink(options, context) {
  const text = 'options ' + JSON.stringify(options) + ' raw ' + Object.values(options.headers ?? {}).join(' ') + ' ' + (options.apiKey ?? '') + ' ' + (options.url ?? '');
  context.logger.warn('echo sink: ' + text);
  return {
    name: options.name ?? 'echo',
    status: () => ({ name: options.name ?? 'echo', enabled: true, available: false, detail: text }),
    onRunStart(runId, start) { seen.push(start); },
    onStep(runId, step) { seen.push(step); },
    onRunEnd() {},
  };
}`;

/** A factory that fails with its URL and key in the message. */
const FAILING_SINK = `export function createSink(options) {
  throw new Error('cannot reach ' + options.url + ' with key ' + options.apiKey);
}`;

describe('option secrets in diagnostics', () => {
  it('optionSecrets finds keys, header values, URL credentials; JSON-escaped and trimmed too', () => {
    expect(
      optionSecrets({
        apiKey: 'key-abcdef',
        endpoint: 'https://bob:pa%40ss-word@host/x?token=tok-123456',
        headers: { 'x-honeycomb-team': 'team-abcdef\r' },
        nested: [{ client_secret: 'cs-abcdef' }],
        maxRetries: 3,
        name: 'plain-name',
      }).sort(),
    ).toEqual(
      [
        'key-abcdef',
        'bob:pa%40ss-word',
        'bob:pa@ss-word',
        'pa%40ss-word',
        'pa@ss-word',
        'tok-123456',
        'team-abcdef\r',
        'team-abcdef\\r',
        'team-abcdef',
        'cs-abcdef',
      ].sort(),
    );
  });

  it('A: a sink in this thread: its option secrets are scrubbed from status() and its warnings', async () => {
    const p = project({
      'echo.mjs': ECHO_SINK,
      'rlm-obs.config.json': JSON.stringify({
        sinks: [
          [
            './echo.mjs',
            {
              apiKey: '${ECHO_KEY}',
              headers: { 'x-team': 'team-HEADER-SECRET-0815' },
              url: 'http://127.0.0.1:9',
            },
          ],
        ],
      }),
    });
    const warnings: string[] = [];
    const obs = await loadObservability({
      cwd: p.dir,
      // a variable name that does not look secret: only the option key says it is one
      env: { ECHO_KEY: 'ek-echo-KEY-SECRET-4711' },
      logger: { warn: (m) => warnings.push(m) },
      overrides: quiet,
    });
    cleanups.push(() => obs.shutdown());
    const status = JSON.stringify(obs.status());
    expect(status).toContain('[REDACTED]');
    for (const text of [status, warnings.join('\n')]) {
      expect(text).not.toContain('ek-echo-KEY-SECRET-4711');
      expect(text).not.toContain('team-HEADER-SECRET-0815');
    }
    expect(warnings.join('\n')).toContain('echo sink: options');
  });

  it('B: a failing factory’s message, stack and cause are scrubbed (in this thread and in the worker)', async () => {
    for (const worker of [false, true]) {
      const p = project({
        'failing.mjs': FAILING_SINK,
        'rlm-obs.config.json': JSON.stringify({
          worker,
          sinks: [
            {
              use: './failing.mjs',
              options: { url: '${HOOK_URL}', apiKey: '${HOOK_KEY}' },
            },
          ],
        }),
      });
      const error = await loadObservability({
        cwd: p.dir,
        env: {
          HOOK_URL: 'https://hookuser:HOOK-PASS-SECRET-9182@127.0.0.1:9/hook',
          HOOK_KEY: 'hk-HOOK-KEY-SECRET-3344',
        },
        overrides: quiet,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, `worker=${worker}`).toBeInstanceOf(RlmObsConfigError);
      const e = error as RlmObsConfigError;
      expect(e.key).toBe('sinks[0]');
      expect(e.message).toMatch(
        /^sink '\.\/failing\.mjs' could not be created: cannot reach https:\/\/\[REDACTED\]@127\.0\.0\.1:9\/hook with key \[REDACTED\]/,
      );
      const everything = `${e.message}\n${e.stack}\n${inspect(e)}`;
      expect(everything, `worker=${worker}`).not.toContain('HOOK-PASS-SECRET-9182');
      expect(everything, `worker=${worker}`).not.toContain('hk-HOOK-KEY-SECRET-3344');
    }
  });

  it('C: a worker sink’s status is scrubbed before it is serialized (secrets JSON escapes)', async () => {
    const p = project({ 'echo.mjs': ECHO_SINK });
    const secrets = [
      'sk-live-OTLP-SECRET-999\r',
      'sk-quote"SECRET-555',
      'sk-back\\slash-SECRET-777',
    ];
    const [sink] = await createWorkerSinks(
      [
        {
          use: './echo.mjs',
          options: { headers: { a: secrets[0], b: secrets[1], c: secrets[2] } },
        },
      ],
      { configDir: p.dir, env: {}, logger: { warn() {} } },
    );
    cleanups.push(() => sink!.shutdown?.());
    const status = sink!.status();
    expect(status.detail).toContain('[REDACTED]');
    for (const secret of secrets) {
      expect(status.detail).not.toContain(secret.trim());
      expect(JSON.stringify(status)).not.toContain(JSON.stringify(secret).slice(1, -1));
    }
    expect(status.detail).not.toContain('SECRET');
  });

  it('D: redact: false leaves the events alone but keeps status and warnings scrubbed', async () => {
    const globals = globalThis as { __diagnosticsSecretsEvents?: unknown[] };
    globals.__diagnosticsSecretsEvents = [];
    const p = project({
      'echo.mjs': ECHO_SINK,
      'rlm-obs.config.json': JSON.stringify({
        redact: false,
        sinks: [['./echo.mjs', { name: 'mlflow-like', url: '${MLFLOW_TRACKING_URI}' }]],
      }),
    });
    const warnings: string[] = [];
    const obs = await loadObservability({
      cwd: p.dir,
      env: { MLFLOW_TRACKING_URI: 'http://mluser:ML-PASS-SECRET-42@127.0.0.1:9' },
      logger: { warn: (m) => warnings.push(m) },
      overrides: quiet,
    });
    cleanups.push(() => obs.shutdown());
    const status = JSON.stringify(obs.status());
    expect(status).toContain('http://[REDACTED]@127.0.0.1:9');
    expect(status).not.toContain('ML-PASS-SECRET-42');
    expect(warnings.join('\n')).not.toContain('ML-PASS-SECRET-42');
    expect(obs.redactor.scrub('failed: http://mluser:ML-PASS-SECRET-42@127.0.0.1:9')).not.toContain(
      'ML-PASS-SECRET-42',
    );
    // The recorded data is not redacted: that is what redact: false is for.
    const run = obs.startRun({ task: 'http://bob:data-pass-123@db.local', environment: 'e' });
    run.step({ step: 1, action: { action: 'x', api_key: 'data-key-123456' }, reward: 0 });
    run.end({ completed: true });
    const events = JSON.stringify(globals.__diagnosticsSecretsEvents);
    expect(events).toContain('http://bob:data-pass-123@db.local');
    expect(events).toContain('data-key-123456');
  });
});
