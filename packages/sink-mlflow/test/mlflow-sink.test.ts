/**
 * Against a real MLflow tracking server; everything is read back through its REST API.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { context, createContextKey } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { RLMObservability } from '@rlm/obs-core';
import { closedPort, describeSinkConformance, hungServer } from '@rlm/obs-core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMlflowSinkFromEnv,
  createSink,
  KeyNames,
  LIMITS,
  MLflowSink,
  MlflowClient,
  MlflowSink,
  maskUri,
  validKey,
} from '../src/index.js';
import { metricJsonLength } from '../src/mlflow-client.js';
import { startAuthProxy } from './auth-proxy.js';
import { createMlflowServer, type MlflowServer, mlflowCommand } from './mlflow-server.js';

const command = mlflowCommand();
if (!command && process.env.RLM_OBS_REQUIRE_MLFLOW)
  throw new Error('MLflow is required here: run scripts/setup-mlflow.sh');

/** The built package, for scripts run in a process of their own. */
const BUILT = new URL('../dist/index.js', import.meta.url).href;

/** Runs an ES module script in a fresh Node process. */
function runScript(script: string) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** Runs an ES module script in a fresh Node process without blocking this one. */
function runScriptAsync(
  script: string,
): Promise<{ stdout: string; stderr: string; status: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, status });
    });
  });
}

/** The key `@opentelemetry/core`'s `suppressTracing()` sets. */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

describe('the client without a server', () => {
  it('makes keys valid and cuts long values', () => {
    expect(validKey('step reward/ä€!')).toBe('step reward/ä__');
    expect(validKey('x'.repeat(300))).toHaveLength(LIMITS.keyLength);
    expect(validKey('')).toBe('_');
  });

  it("keys keep the letters and digits of every script (MLflow's Unicode \\w) and are never path-like", () => {
    // MLflow's server: Python's `^[/\w.\- :]*$` with a Unicode \w, and posixpath.normpath(key) == key.
    for (const key of ['評価', 'température', 'Ελληνικά', 'عربى', 'données/été 2:1', 'x١٢', 'Ⅻ½'])
      expect(validKey(key)).toBe(key);
    expect(validKey('rlm.tag.評価!')).toBe('rlm.tag.評価_');
    // a character outside the BMP is one character: one `_`, or kept when it is a letter
    expect(validKey('a😀b')).toBe('a_b');
    expect(validKey('𝐀𝐁')).toBe('𝐀𝐁');
    // combining marks are not \w in Python; letters newer than Unicode 13 (Python 3.10) are refused
    expect(validKey('e\u0301')).toBe('e_');
    expect(validKey('\u{a7c0}\u{10570}ꟊ')).toBe('__ꟊ');
    // paths MLflow would normalise are refused by it: a//b, ./x, x/, /x, .., a name starting ..
    expect(
      ['a//b', './x', 'x/', '/x', '..', '.', '../x', '..x', 'a/./b', 'a/../b'].map(validKey),
    ).toEqual(['a/_/b', '_/x', 'x/_', '_/x', '__', '_', '__/x', '_.x', 'a/_/b', 'a/__/b']);
    // 250 characters as Python counts them: a surrogate pair is never cut in half
    const astral = validKey('𝐀'.repeat(300));
    expect([...astral]).toHaveLength(LIMITS.keyLength);
    expect(validKey(`${'x'.repeat(249)}/y`)).toBe(`${'x'.repeat(249)}_`);
    // valid keys come back unchanged
    for (const key of ['a//b', '..x', 'ä€!', '😀'.repeat(300)])
      expect(validKey(validKey(key))).toBe(validKey(key));
  });

  it('names that clean to the same key get distinct keys; valid names keep theirs', () => {
    const keys = new KeyNames().resolve(['model(name)', 'model[name]', 'model_name_', 'max_steps']);
    expect(Object.fromEntries(keys)).toEqual({
      'model(name)': 'model_name__2',
      'model[name]': 'model_name__3',
      model_name_: 'model_name_',
      max_steps: 'max_steps',
    });
    // A run's names keep their keys from one request to the next.
    const run = new KeyNames();
    expect(run.resolve(['score.a(b)']).get('score.a(b)')).toBe('score.a_b_');
    expect(run.resolve(['score.a[b]', 'score.a(b)'])).toEqual(
      new Map([
        ['score.a[b]', 'score.a_b__2'],
        ['score.a(b)', 'score.a_b_'],
      ]),
    );
    // A suffix stays within 250 characters.
    const long = new KeyNames().resolve([`${'k'.repeat(260)}!`, `${'k'.repeat(260)}?`]);
    expect([...long.values()].map((k) => [k.length, k.slice(-2)])).toEqual([
      [250, 'kk'],
      [250, '_2'],
    ]);
  });

  it('log-batch never sends two params, tags or metrics with the same key', async () => {
    const bodies: Array<{
      params: Array<{ key: string; value: string }>;
      tags: Array<{ key: string; value: string }>;
      metrics: Array<{ key: string; value: number }>;
    }> = [];
    const client = new MlflowClient({
      trackingUri: 'http://mlflow.test',
      fetch: (async (_url: string, init: RequestInit) => {
        bodies.push(JSON.parse(String(init.body)));
        return new Response('{}');
      }) as typeof fetch,
    });
    await client.logBatch('run-1', {
      params: { 'model(name)': 'x', 'model[name]': 'y', model_name_: 'z' },
      tags: { 'note!': 'a', 'note?': 'b' },
      metrics: [
        { key: 'score.a(b)', value: 1, timestamp: 1, step: 0 },
        { key: 'score.a[b]', value: 2, timestamp: 1, step: 0 },
        { key: 'score.a(b)', value: 3, timestamp: 2, step: 1 },
      ],
    });
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.params).toEqual([
      { key: 'model_name__2', value: 'x' },
      { key: 'model_name__3', value: 'y' },
      { key: 'model_name_', value: 'z' },
    ]);
    expect(bodies[0]!.tags.map((t) => t.key)).toEqual(['note_', 'note__2']);
    expect(bodies[0]!.metrics.map((m) => [m.key, m.value])).toEqual([
      ['score.a_b_', 1],
      ['score.a_b__2', 2],
      ['score.a_b_', 3],
    ]);
  });

  it('a tracking URI this sink cannot use is reported, not tried: no scheme, a file store, a database', async () => {
    const requests: string[] = [];
    const cases: Array<[string, RegExp]> = [
      [
        'localhost:5917',
        /^unavailable: tracking URI 'localhost:5917' has no scheme; write it with http:\/\//,
      ],
      ['127.0.0.1:5917', /^unavailable: tracking URI '127\.0\.0\.1:5917' has no scheme/],
      [
        'bob:hunter2@localhost:5917',
        /^unavailable: tracking URI '\*\*\*@localhost:5917' has no scheme/,
      ],
      ['file:///tmp/mlruns', /is a local MLflow file store, .*jsonl sink/],
      ['./mlruns', /'\.\/mlruns' is a local MLflow file store/],
      ['mlruns', /is a local MLflow file store/],
      ['sqlite:///mlflow.db', /is a database, .*mlflow server --backend-store-uri/],
      ['databricks', /is a Databricks profile/],
      ['ftp://host', /has the scheme 'ftp:'; this sink supports http:\/\/ and https:\/\/ only/],
    ];
    const original = globalThis.fetch;
    globalThis.fetch = (async (url: string) => {
      requests.push(String(url));
      throw new Error('fetch failed');
    }) as typeof fetch;
    try {
      for (const [uri, detail] of cases) {
        const sink = await createSink({ trackingUri: uri, maxRetries: 0 });
        const status = sink.status();
        expect(status.available, uri).toBe(false);
        expect(status.detail, uri).toMatch(detail);
        expect(JSON.stringify(status)).not.toContain('hunter2');
        const check = await sink.check();
        expect(check.ok).toBe(false);
        expect(check.problems[0]!.problem).toMatch(/^tracking URI '/);
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        obs.onRunStart(`uri-${uri}`, { task: 't', environment: 'e', params: {} });
        obs.onRunEnd(`uri-${uri}`, { result: { completed: true, steps: 0, totalReward: 0 } });
        const report = await obs.shutdown({ timeoutMs: 5_000 });
        expect(report.ok).toBe(false);
        expect(JSON.stringify(report)).toContain('1 runs not sent: tracking URI');
      }
    } finally {
      globalThis.fetch = original;
    }
    expect(requests).toEqual([]);
    expect(maskUri('localhost:5917')).toBe('localhost:5917');
    expect(maskUri('bob:hunter2@localhost:5917/?token=t0k')).toBe('***@localhost:5917/');
  });

  it("splits log-batch calls at MLflow's limits: items, metrics, params, tags and bytes", async () => {
    const bodies: Array<{
      text: string;
      metrics: Array<{ key: string; value: number; timestamp: number; step: number }>;
      params: unknown[];
      tags: unknown[];
    }> = [];
    const client = new MlflowClient({
      trackingUri: 'http://mlflow.test',
      fetch: (async (_url: string, init: RequestInit) => {
        const text = String(init.body);
        bodies.push({ text, ...JSON.parse(text) });
        return new Response('{}');
      }) as typeof fetch,
    });
    const values = [0, -0, 1, -1.5, 1e-7, 123456789.123, -2.5e21, Number.MAX_VALUE, 0.1 + 0.2];
    const metrics = Array.from({ length: 2_500 }, (_, i) => ({
      // long keys with characters that need replacing: the bytes bound is reached first
      key: `${i % 3 === 0 ? 'ä"\\\n' : 'k'}${'x'.repeat(i % 400)}`,
      value: values[i % values.length]!,
      timestamp: 1763772661478 + i,
      step: i,
    }));
    metrics.push({ key: 'nan', value: Number.NaN, timestamp: 0, step: 0 });
    const params = Object.fromEntries(
      Array.from({ length: 150 }, (_, i) => [`p${i}`, `"${'v'.repeat(5_900)}\\`]),
    );
    const tags = Object.fromEntries(
      Array.from({ length: 120 }, (_, i) => [`t${i}`, 'é'.repeat(4_900)]),
    );
    await client.logBatch('run-1', { metrics, params, tags });
    for (const body of bodies) {
      expect(body.text.length).toBeLessThanOrEqual(LIMITS.bytesPerBatch);
      expect(body.metrics.length + body.params.length + body.tags.length).toBeLessThanOrEqual(
        LIMITS.itemsPerBatch,
      );
      expect(body.params.length).toBeLessThanOrEqual(LIMITS.paramsPerBatch);
      expect(body.tags.length).toBeLessThanOrEqual(LIMITS.tagsPerBatch);
    }
    // everything sent once, in order; the non-finite metric skipped
    const sent = bodies.flatMap((b) => b.metrics);
    expect(sent.map((m) => m.step)).toEqual(metrics.slice(0, -1).map((m) => m.step));
    // valid keys; names cut to the same 250 characters stay distinct metrics (`…_2`, `…_3`)
    const keys = new KeyNames().resolve(metrics.slice(0, -1).map((m) => m.key));
    expect(sent.map((m) => m.key)).toEqual(metrics.slice(0, -1).map((m) => keys.get(m.key)));
    for (const key of keys.values()) expect(validKey(key)).toBe(key);
    expect(new Set(keys.values()).size).toBe(keys.size);
    expect(sent.map((m) => (Object.is(m.value, -0) ? 0 : m.value))).toEqual(
      metrics.slice(0, -1).map((m) => (Object.is(m.value, -0) ? 0 : m.value)),
    );
    expect(bodies.flatMap((b) => b.params)).toHaveLength(150);
    expect(bodies.flatMap((b) => b.tags)).toHaveLength(120);
    // the bytes bound was reached, and a batch holds as much as it allows (the size used is
    // not a loose estimate)
    expect(Math.max(...bodies.map((b) => b.text.length))).toBeGreaterThan(
      0.95 * LIMITS.bytesPerBatch,
    );
    expect(bodies.length).toBeLessThanOrEqual(4);
    // the metric size used for the bound is exactly the JSON's
    for (const m of [...sent, { key: 'k', value: 1, timestamp: Number.NaN, step: Infinity }])
      expect(metricJsonLength(m)).toBe(JSON.stringify(m).length);
  });

  it("a retry's backoff does not keep a finished process alive", async () => {
    // A request that keeps failing and would back off for 10 s: the script's own work is done.
    const port = await closedPort();
    const result = runScript(`
      import { MlflowClient } from ${JSON.stringify(BUILT)};
      const client = new MlflowClient({ trackingUri: 'http://127.0.0.1:${port}', maxRetries: 3, backoffMs: 10_000 });
      client.request('GET', 'experiments/search').catch(() => {});
      setTimeout(() => console.log('still alive'), 5_000).unref();
    `);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
  });

  it('whoever awaits the sink (ready, a flush) keeps the process alive through the retries', async () => {
    // The backoff timers are unref'ed; a script that awaits the sink itself must still get
    // its answer rather than end with the await unsettled (exit code 13).
    const port = await closedPort();
    const result = runScript(`
      import { MlflowSink } from ${JSON.stringify(BUILT)};
      const sink = new MlflowSink({ trackingUri: 'http://127.0.0.1:${port}', maxRetries: 2 });
      await sink.ready;
      console.log(sink.status().available ? 'available' : 'unavailable');
      sink.onRunStart('r', { task: 't', environment: 'e', params: {} });
      await sink.forceFlush().catch(() => console.log('flush failed'));
    `);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('unavailable\nflush failed\n');
  });

  it('check() (rlm-obs doctor) keeps the process alive through the retries too', async () => {
    // `rlm-obs doctor` awaits only check(): it ended silently with exit code 13.
    const port = await closedPort();
    const result = runScript(`
      import { MlflowSink } from ${JSON.stringify(BUILT)};
      const sink = new MlflowSink({ trackingUri: 'http://127.0.0.1:${port}', maxRetries: 2 });
      const check = await sink.check();
      console.log(check.ok ? 'ok' : 'problem');
    `);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('problem\n');
  });

  it('a flush with a deadline settles by it and stops holding the process', async () => {
    // The coordinator passes the time left of its deadline: past it nobody waits for the
    // sink, and its retries must not keep a finished process alive (backoff 10 s here).
    const port = await closedPort();
    const result = runScript(`
      import { MlflowSink } from ${JSON.stringify(BUILT)};
      const sink = new MlflowSink({ trackingUri: 'http://127.0.0.1:${port}', maxRetries: 3, backoffMs: 10_000 });
      sink.onRunStart('r', { task: 't', environment: 'e', params: {} });
      await sink.forceFlush({ timeoutMs: 300 }).catch((e) => console.log(e.message));
      setTimeout(() => console.log('still alive'), 5_000).unref();
    `);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('flush did not finish within 300 ms\n');
  });

  it('MLflowSink (as the seed names it) is MlflowSink', () => {
    expect(MLflowSink).toBe(MlflowSink);
  });

  it('shutdown ends the setup against a server that accepts connections and never answers: the process exits', async () => {
    // Setup alone would hold the process through 4 attempts of 10 s each.
    const hung = await hungServer();
    try {
      const started = Date.now();
      const result = await runScriptAsync(`
        import { MlflowSink } from ${JSON.stringify(BUILT)};
        const sink = new MlflowSink({ trackingUri: '${hung.url}' });
        console.log(JSON.stringify(sink.status()));
        await sink.shutdown({ timeoutMs: 1000 });
        console.log(JSON.stringify(sink.status()));
      `);
      const elapsed = Date.now() - started;
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const [during, after] = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(during).toMatchObject({
        available: true,
        detail: `${hung.url} (checking the server)`,
      });
      expect(after).toMatchObject({
        available: false,
        detail: `unavailable: shut down before ${hung.url} answered`,
      });
      expect(elapsed).toBeLessThan(15_000);
    } finally {
      await hung.close();
    }
  }, 90_000);

  it("the sink's own requests run with OpenTelemetry tracing suppressed", async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    const realFetch = globalThis.fetch;
    const suppressed: unknown[] = [];
    globalThis.fetch = (async (url: string | URL) => {
      suppressed.push(context.active().getValue(SUPPRESS_TRACING));
      const route = String(url);
      const body = route.includes('experiments/get-by-name')
        ? { experiment: { experiment_id: '1', name: 'e', lifecycle_stage: 'active' } }
        : route.includes('runs/search')
          ? { runs: [] }
          : route.includes('runs/create')
            ? {
                run: {
                  info: {
                    run_id: 'm1',
                    experiment_id: '1',
                    status: 'RUNNING',
                    artifact_uri: 'mlflow-artifacts:/1/m1/artifacts',
                  },
                  data: {},
                },
              }
            : {};
      return new Response(JSON.stringify(body), { status: 200 });
    }) as typeof fetch;
    try {
      const sink = new MlflowSink({ trackingUri: 'http://mlflow.test', experiment: 'e' });
      await sink.ready;
      sink.onRunStart('r', { task: 't', environment: 'e', params: { a: 1 } });
      sink.onStep('r', { event: { step: 1, reward: 1 }, cumulativeReward: 1 } as never);
      sink.onRunEnd('r', { result: { completed: true } } as never);
      await sink.forceFlush();
      expect((await sink.check()).ok).toBe(true);
      // get-by-name ×2, search, create, params, metrics, final metrics, update
      expect(suppressed.length).toBeGreaterThanOrEqual(8);
      expect(suppressed.every((value) => value === true)).toBe(true);
      expect(context.active().getValue(SUPPRESS_TRACING)).toBeUndefined();
    } finally {
      globalThis.fetch = realFetch;
      context.disable();
    }
  });

  it('status() shows what was lost: the counters and the last error, without secrets', async () => {
    const port = await closedPort();
    const sink = new MlflowSink({
      trackingUri: `http://bob:hunter2@127.0.0.1:${port}`,
      maxRetries: 0,
    });
    await sink.ready;
    sink.onRunStart('r', { task: 't', environment: 'e', params: {} });
    sink.onRunEnd('r', { result: { completed: true } } as never);
    await expect(sink.forceFlush()).rejects.toThrow(/runs' ends not sent yet/);
    const status = sink.status();
    expect(status).toMatchObject({
      available: false,
      operations: 2,
      operations_failed: 2,
      operations_dropped: 0,
      dropped_steps: 0,
      pending_ends: 1,
      artifacts_skipped: 0,
    });
    expect(status.last_error).toEqual(expect.any(String));
    expect(JSON.stringify(status)).not.toContain('hunter2');
    await sink.shutdown({ timeoutMs: 5_000 }).catch(() => undefined);
  });

  it('masks credentials in the tracking URI', () => {
    expect(maskUri('https://user:s3cret@mlflow.example.com/')).toBe(
      'https://***@mlflow.example.com',
    );
    expect(maskUri('http://127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
  });

  it('credentials in the tracking URI become Basic auth (fetch refuses such a URL)', async () => {
    const seen: Array<{ url: string; auth: string | null }> = [];
    const client = new MlflowClient({
      trackingUri: 'http://us%40er:p%3Ass@mlflow.test:5000/',
      fetch: (async (url: string, init: RequestInit) => {
        seen.push({ url, auth: new Headers(init.headers).get('authorization') });
        return new Response('{"experiments":[]}', { status: 200 });
      }) as typeof fetch,
    });
    await client.request('GET', 'experiments/search');
    expect(client.trackingUri).toBe('http://mlflow.test:5000');
    expect(seen).toEqual([
      {
        url: 'http://mlflow.test:5000/api/2.0/mlflow/experiments/search',
        auth: `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`,
      },
    ]);
  });

  it('retries 429 and 503 with backoff, honouring Retry-After, and sends auth', async () => {
    const seen: Array<{ auth: string | null }> = [];
    const answers = [429, 503, 200];
    const client = new MlflowClient({
      trackingUri: 'http://mlflow.test',
      username: 'u',
      password: 'p',
      backoffMs: 1,
      fetch: (async (_url: string, init: RequestInit) => {
        seen.push({ auth: new Headers(init.headers).get('authorization') });
        const status = answers.shift()!;
        return new Response(
          status === 200
            ? '{"experiment_id":"7"}'
            : '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}',
          {
            status,
            headers: status === 429 ? { 'retry-after': '0' } : {},
          },
        );
      }) as typeof fetch,
    });
    expect(await client.request('POST', 'experiments/create', { name: 'x' })).toEqual({
      experiment_id: '7',
    });
    expect(seen).toHaveLength(3);
    expect(seen[0]!.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    const bearer = new MlflowClient({
      trackingUri: 'http://x',
      token: 'tok',
      fetch: (async (_u: string, init: RequestInit) =>
        new Response(new Headers(init.headers).get('authorization'))) as unknown as typeof fetch,
    });
    await expect(bearer.request('GET', 'x')).rejects.toThrow();
  });

  it('step metrics waiting for a hung MLflow stay under maxPendingMetrics; the rest are dropped, counted, reported', async () => {
    const hung = await hungServer();
    try {
      const sink = new MlflowSink({
        trackingUri: hung.url,
        experiment: 'hung',
        timeoutMs: 300,
        maxRetries: 0,
        maxPendingMetrics: 200,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ runId: 'mlf-hung', task: 't' });
      for (let i = 0; i < 500; i++) run.step({ reward: 1 }); // two metrics a step
      expect(sink.stats()).toMatchObject({ pending_metrics: 200, dropped_steps: 400 });
      const report = await obs.flush({ timeoutMs: 20_000 });
      expect(report.sinks[0]!.ok).toBe(false);
      expect(report.sinks[0]!.error).toContain("400 steps' metrics dropped");
      expect(sink.stats().pending_metrics).toBe(0);
      await obs.shutdown({ timeoutMs: 5_000 });
    } finally {
      await hung.close();
    }
  }, 30_000);

  it('createSink does not hold up the start when MLflow never answers: setup goes on in the background', async () => {
    const hung = await hungServer();
    try {
      // The client's own timeouts and retries would take ~40 s; the factory waits 5 s at most.
      const sink = await createSink({
        trackingUri: hung.url,
        experiment: 'hung',
      });
      expect(sink.status()).toMatchObject({ name: 'mlflow', enabled: true });
      let settled = false;
      void sink.ready.then(() => {
        settled = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBe(false); // still setting up
    } finally {
      await hung.close();
    }
  }, 20_000);

  it('reads the seed variables; the status shows the URI without credentials', () => {
    expect(createMlflowSinkFromEnv({}).status()).toEqual({
      name: 'mlflow',
      enabled: false,
      available: false,
      detail: 'disabled',
      experiment: 'rlm-code-rlm',
    });
    const on = createMlflowSinkFromEnv({
      DSPY_RLM_MLFLOW_ENABLED: 'true',
      MLFLOW_TRACKING_URI: 'http://bob:hunter2@127.0.0.1:1',
      DSPY_RLM_MLFLOW_EXPERIMENT: 'exp',
    });
    // The experiment is still being looked up.
    expect(on.status()).toMatchObject({
      enabled: true,
      detail: 'http://***@127.0.0.1:1 (checking the server)',
      experiment: 'exp',
    });
    expect(JSON.stringify(on.status())).not.toContain('hunter2');
  });
});

describe.skipIf(!command)('mlflow sink against a real MLflow tracking server', () => {
  let server: MlflowServer;
  beforeAll(async () => {
    server = await createMlflowServer(command!);
    await server.start();
  }, 150_000);
  afterAll(async () => {
    await server?.stop();
    server?.remove();
  });

  it('records runs, steps, nested runs, artifacts and statuses, and reads them back', async () => {
    const experiment = `rlm-e2e-${Date.now()}`;
    const runDir = path.join(server.dir, 'run-artifacts', 'run-1');
    fs.mkdirSync(path.join(runDir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(runDir, 'trajectory.json'), '{"steps":2}');
    fs.writeFileSync(path.join(runDir, 'sub', 'notes.txt'), 'hello');
    const sink = await createSink({ trackingUri: server.url, experiment });
    expect(sink.status()).toEqual({
      name: 'mlflow',
      enabled: true,
      available: true,
      detail: server.url,
      experiment,
      operations: 0,
      operations_failed: 0,
      operations_dropped: 0,
      dropped_steps: 0,
      pending_metrics: 0,
      pending_ends: 0,
      ends_dropped: 0,
      artifacts_skipped: 0,
      evicted_runs: 0,
      unmatched_scores: 0,
    });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
    const run = obs.startRun({
      runId: 'mlf-run-1',
      task: 'Build a DSPy signature',
      environment: 'dspy',
      params: {
        max_steps: 5,
        model: 'gpt-4.1',
        nested: { a: 1 },
        list: [1, 2],
        'bad key!': 'v',
        long: 'p'.repeat(7000),
      },
      runPath: runDir,
    });
    run.step({
      action: { action: 'run_python' },
      observation: { success: true },
      reward: 0.5,
      usage: { model: 'gpt-4.1', inputTokens: 100, outputTokens: 10, costUsd: 0.002 },
    });
    run.step({
      action: { action: 'run_python' },
      observation: { success: false, error: 'x' },
      reward: 0.25,
    });
    const child = run.child({ runId: 'mlf-child-1', task: 'nested', environment: 'dspy' });
    child.step({ reward: 1 });
    child.end();
    run.end({ finalAnswer: 'done' });
    const failed = obs.startRun({ runId: 'mlf-failed-1', task: 'fails', environment: 'pure_rlm' });
    failed.fail(new Error('budget'));
    const report = await obs.shutdown({ timeoutMs: 60_000 });
    expect(report.ok).toBe(true);

    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const [found] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-run-1');
    const mlflowRun = await client.getRun(found!.info.run_id);
    expect(mlflowRun.info).toMatchObject({ run_name: 'mlf-run-1', status: 'FINISHED' });
    const params = Object.fromEntries((mlflowRun.data.params ?? []).map((p) => [p.key, p.value]));
    expect(params).toMatchObject({
      max_steps: '5',
      model: 'gpt-4.1',
      environment: 'dspy',
      task_chars: '22',
      'bad key_': 'v',
    });
    expect(params.nested).toBeUndefined();
    expect(params.list).toBeUndefined();
    expect(params.long!.length).toBeLessThanOrEqual(LIMITS.paramValueLength);
    const tags = Object.fromEntries((mlflowRun.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({ run_id: 'mlf-run-1', component: 'rlm-code-rlm' });
    const latest = Object.fromEntries((mlflowRun.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(latest).toMatchObject({
      completed: 1,
      steps: 2,
      total_reward: 0.75,
      total_input_tokens: 100,
      total_output_tokens: 10,
      total_cost_usd: 0.002,
    });
    expect(
      (await client.getMetricHistory(mlflowRun.info.run_id, 'step_reward')).map((m) => [
        m.step,
        m.value,
      ]),
    ).toEqual([
      [1, 0.5],
      [2, 0.25],
    ]);
    expect(
      (await client.getMetricHistory(mlflowRun.info.run_id, 'cumulative_reward')).map((m) => [
        m.step,
        m.value,
      ]),
    ).toEqual([
      [1, 0.5],
      [2, 0.75],
    ]);
    expect(
      (await client.getMetricHistory(mlflowRun.info.run_id, 'input_tokens')).map((m) => m.value),
    ).toEqual([100]);
    const top = await client.listArtifacts(mlflowRun.info.run_id);
    expect(top.map((f) => f.path)).toEqual(['run-1']);
    const inside = await client.listArtifacts(mlflowRun.info.run_id, 'run-1');
    expect(inside.map((f) => f.path).sort()).toEqual(['run-1/sub', 'run-1/trajectory.json']);

    const [childRun] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-child-1');
    const childTags = Object.fromEntries((childRun!.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(childTags['mlflow.parentRunId']).toBe(mlflowRun.info.run_id);
    const [failedRun] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-failed-1');
    expect(failedRun!.info.status).toBe('FAILED');
    expect(
      Object.fromEntries((failedRun!.data.metrics ?? []).map((m) => [m.key, m.value])).completed,
    ).toBe(0);
  }, 120_000);

  it('runs that never end stay under maxOpenRuns: the oldest is ended as KILLED, tagged, counted', async () => {
    const experiment = `rlm-evict-${Date.now()}`;
    const sink = await createSink({ trackingUri: server.url, experiment, maxOpenRuns: 2 });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
    const start = (id: string) => obs.onRunStart(id, { task: id, environment: 'e', params: {} });
    const step = (id: string, n: number) =>
      obs.onStep(id, { event: { step: n, reward: 0.5 }, cumulativeReward: 0.5 * n });
    start('ev-a');
    step('ev-a', 1);
    start('ev-b');
    step('ev-b', 1);
    start('ev-c'); // evicts ev-a
    step('ev-a', 2); // ignored: ev-a is no longer open
    start('ev-d'); // evicts ev-b
    obs.onRunEnd('ev-b', { result: { completed: true, steps: 1, totalReward: 0.5 } });
    const report = await obs.shutdown({ timeoutMs: 60_000 });
    expect(report.ok).toBe(true);
    expect(sink.stats()).toMatchObject({ evicted_runs: 2, failed: 0, dropped: 0 });

    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const read = async (id: string) => {
      const [found] = await client.findRunsByTag(experimentId, 'run_id', id);
      const run = await client.getRun(found!.info.run_id);
      const tags = Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
      const metrics = Object.fromEntries((run.data.metrics ?? []).map((m) => [m.key, m.value]));
      const rewards = (await client.getMetricHistory(run.info.run_id, 'step_reward')).map(
        (m) => m.step,
      );
      return { status: run.info.status, tags, metrics, rewards, endTime: run.info.end_time };
    };
    const a = await read('ev-a');
    expect(a).toMatchObject({ status: 'KILLED', rewards: [1] });
    expect(a.tags['rlm.evicted']).toBe('true');
    expect(a.endTime).toBeGreaterThan(0);
    // ev-b was evicted, then its own end arrived: its status and final metrics win.
    const b = await read('ev-b');
    expect(b).toMatchObject({ status: 'FINISHED', rewards: [1] });
    expect(b.metrics).toMatchObject({ completed: 1, steps: 1, total_reward: 0.5 });
    for (const id of ['ev-c', 'ev-d']) {
      const open = await read(id);
      expect(open.status).toBe('RUNNING');
      expect(open.tags['rlm.evicted']).toBeUndefined();
    }
  }, 120_000);

  it('a replay finds the existing MLflow run by its run_id tag instead of duplicating it', async () => {
    const experiment = `rlm-replay-${Date.now()}`;
    for (let i = 0; i < 2; i++) {
      const obs = RLMObservability.withSinks(
        [await createSink({ trackingUri: server.url, experiment })],
        { flushOnExit: false },
      );
      obs.onRunStart('replayed-run', { task: 't', environment: 'e', params: { k: 1 } });
      obs.onStep('replayed-run', { event: { step: 1, reward: 1 }, cumulativeReward: 1 });
      obs.onRunEnd('replayed-run', { result: { completed: true, steps: 1, totalReward: 1 } });
      expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    }
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    expect(await client.findRunsByTag(experimentId, 'run_id', 'replayed-run')).toHaveLength(1);
  }, 120_000);

  it('a replay of steps without their own times sends only the missing steps (one point per step)', async () => {
    const experiment = `rlm-replay-times-${Date.now()}`;
    // Live, steps 1-2 arrived and step 3 was lost; the replay sends all three, later (so
    // each step's time, taken at delivery, differs from the live one).
    for (const steps of [2, 3]) {
      const obs = RLMObservability.withSinks(
        [await createSink({ trackingUri: server.url, experiment })],
        { flushOnExit: false },
      );
      obs.onRunStart('replayed-times', {
        task: 't',
        environment: 'e',
        params: {},
        startedAt: '2026-01-01T00:00:00Z',
      });
      for (let step = 1; step <= steps; step++)
        obs.onStep('replayed-times', { event: { step, reward: step }, cumulativeReward: step });
      expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const found = await client.findRunsByTag(experimentId, 'run_id', 'replayed-times');
    expect(found).toHaveLength(1);
    for (const key of ['step_reward', 'cumulative_reward'])
      expect(
        (await client.getMetricHistory(found[0]!.info.run_id, key)).map((m) => [m.step, m.value]),
      ).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ]);
  }, 120_000);

  it('two processes creating the experiment at once both get it', async () => {
    const experiment = `rlm-race-${Date.now()}`;
    const sinks = await Promise.all(
      Array.from({ length: 4 }, () => createSink({ trackingUri: server.url, experiment })),
    );
    expect(sinks.every((s) => s.status().available)).toBe(true);
  });

  it('the server stops mid-run: the caller is unaffected, failures are counted, and it recovers', async () => {
    const experiment = `rlm-outage-${Date.now()}`;
    const sink = await createSink({
      trackingUri: server.url,
      experiment,
      maxRetries: 1,
      timeoutMs: 2000,
    });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const before = obs.startRun({ runId: 'before-outage', task: 't' });
    before.step({ reward: 1 });
    await obs.flush({ timeoutMs: 30_000 });
    await server.stop();
    const during = obs.startRun({ runId: 'during-outage', task: 't' });
    for (let i = 0; i < 200; i++) during.step({ reward: 1 });
    before.step({ reward: 1 });
    expect(obs.status()[0]!.counters).toMatchObject({ failed: 0, pending: 0 });
    const outage = await obs.flush({ timeoutMs: 60_000 });
    expect(outage.ok).toBe(false);
    expect(sink.stats().failed).toBeGreaterThan(0);
    await server.start();
    const after = obs.startRun({ runId: 'after-outage', task: 't' });
    after.step({ reward: 1 });
    after.end();
    before.end();
    const recovered = await obs.shutdown({ timeoutMs: 60_000 });
    // The report's error first: it says why when the recovery fell short.
    expect(recovered.sinks[0]?.error).toBeUndefined();
    expect(recovered.ok).toBe(true);
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const [afterRun] = await client.findRunsByTag(experimentId, 'run_id', 'after-outage');
    expect(afterRun!.info.status).toBe('FINISHED');
    const [beforeRun] = await client.findRunsByTag(experimentId, 'run_id', 'before-outage');
    expect(beforeRun!.info.status).toBe('FINISHED');
  }, 240_000);

  it('a run that starts while the server is down is created once it is back, with its later steps', async () => {
    const experiment = `rlm-late-create-${Date.now()}`;
    // A server just started may take seconds to answer its first requests.
    const sink = await createSink({ trackingUri: server.url, experiment, maxRetries: 1 });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    await server.stop();
    const run = obs.startRun({ runId: 'started-during-outage', task: 't' });
    try {
      run.step({ reward: 1 });
      expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(false);
      expect(sink.stats().failed).toBeGreaterThan(0);
    } finally {
      await server.start();
    }
    // Not given up on: the next operation creates the run.
    run.step({ reward: 2 });
    run.end();
    expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const found = await client.findRunsByTag(experimentId, 'run_id', 'started-during-outage');
    expect(found).toHaveLength(1);
    expect(found[0]!.info.status).toBe('FINISHED');
    expect(
      (await client.getMetricHistory(found[0]!.info.run_id, 'step_reward')).map((m) => m.step),
    ).toEqual([2]);
  }, 240_000);

  it('set up while the server is down: unavailable, and available again once a write is accepted', async () => {
    const experiment = `rlm-setup-down-${Date.now()}`;
    await server.stop();
    let sink: MlflowSink;
    try {
      sink = await createSink({ trackingUri: server.url, experiment, maxRetries: 0 });
      expect(sink.status()).toMatchObject({ available: false });
      expect(sink.status().detail).toMatch(/^unavailable: /);
    } finally {
      await server.start();
    }
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const run = obs.startRun({ runId: 'after-setup-outage', task: 't' });
    run.step({ reward: 1 });
    run.end();
    expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    expect(sink.status()).toMatchObject({ available: true, detail: server.url });
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const found = await client.findRunsByTag(experimentId, 'run_id', 'after-setup-outage');
    expect(found.map((r) => r.info.status)).toEqual(['FINISHED']);
  }, 240_000);

  it("a run's params that did not get through go with its next operation; a replay adds the missing ones", async () => {
    const experiment = `rlm-params-${Date.now()}`;
    const proxy = await startAuthProxy(
      server.url,
      `Basic ${Buffer.from('bob:pw-params').toString('base64')}`,
    );
    const client = new MlflowClient({ trackingUri: server.url });
    const paramsOf = async (runId: string) => {
      const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
      const [run] = await client.findRunsByTag(experimentId, 'run_id', runId);
      return Object.fromEntries((run!.data.params ?? []).map((p) => [p.key, p.value]));
    };
    // The proxy answers the next `refuse.count` log-batch requests that carry params itself.
    const refuse = { count: 0, status: 503, seen: 0 };
    proxy.answer = (route, body) => {
      if (!route.endsWith('/runs/log-batch') || !/"params":\[\{/.test(body.toString())) return;
      refuse.seen++;
      if (refuse.count === 0) return;
      refuse.count--;
      return refuse.status;
    };
    const sinkOptions = {
      trackingUri: proxy.url,
      experiment,
      username: 'bob',
      password: 'pw-params',
      maxRetries: 0,
    };
    const start = { task: 'abc', environment: 'env', params: { k: 1, name: 'x' } };
    const all = { k: '1', name: 'x', environment: 'env', task_chars: '3' };
    try {
      // 1. The run is created, then MLflow is unavailable for its params (503, no retries
      // left): counted and reported, and sent again with the run's next operation.
      let sink = await createSink(sinkOptions);
      let obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      refuse.count = 1;
      obs.onRunStart('params-later', start);
      expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(false);
      expect(sink.stats()).toMatchObject({ failed: 1 });
      expect(sink.stats().last_error).toContain('params');
      expect(await paramsOf('params-later')).toEqual({});
      obs.onStep('params-later', { event: { step: 1, reward: 1 }, cumulativeReward: 1 });
      obs.onRunEnd('params-later', { result: { completed: true, steps: 1, totalReward: 1 } });
      expect((await obs.shutdown({ timeoutMs: 30_000 })).ok).toBe(true);
      expect(await paramsOf('params-later')).toEqual(all);
      const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
      const [later] = await client.findRunsByTag(experimentId, 'run_id', 'params-later');
      expect(
        (await client.getMetricHistory(later!.info.run_id, 'step_reward')).map((m) => m.step),
      ).toEqual([1]);

      // 2. Params MLflow rejects for good (4xx) are given up, not sent with every operation.
      sink = await createSink(sinkOptions);
      obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      refuse.count = 1;
      refuse.status = 400;
      refuse.seen = 0;
      obs.onRunStart('params-rejected', start);
      for (let step = 1; step <= 3; step++) {
        obs.onStep('params-rejected', { event: { step, reward: 1 }, cumulativeReward: step });
        await obs.flush({ timeoutMs: 30_000 });
      }
      obs.onRunEnd('params-rejected', { result: { completed: true, steps: 3, totalReward: 3 } });
      await obs.shutdown({ timeoutMs: 30_000 });
      expect(refuse.seen).toBe(1);
      expect(sink.stats()).toMatchObject({ failed: 1 });
      expect(await paramsOf('params-rejected')).toEqual({});

      // 3. A replay finds that run and sends the params it is missing; a second replay,
      // finding them there, sends none.
      for (const expected of [1, 0]) {
        sink = await createSink(sinkOptions);
        obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        refuse.seen = 0;
        obs.onRunStart('params-rejected', start);
        obs.onRunEnd('params-rejected', { result: { completed: true, steps: 3, totalReward: 3 } });
        expect((await obs.shutdown({ timeoutMs: 30_000 })).ok).toBe(true);
        expect(refuse.seen).toBe(expected);
        expect(await paramsOf('params-rejected')).toEqual(all);
      }
      expect(await client.findRunsByTag(experimentId, 'run_id', 'params-rejected')).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  }, 240_000);

  it('scores and feedback are metrics or tags, also late; session, user and labels are tags', async () => {
    const experiment = `rlm-scores-${Date.now()}`;
    const sink = await createSink({ trackingUri: server.url, experiment });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
    const run = obs.startRun({
      runId: 'mlf-score-1',
      task: 'score me',
      environment: 'dspy',
      sessionId: 'conv-42',
      userId: 'user-7',
      tags: ['eval', 'nightly run'],
    });
    run.step({ reward: 0.5 });
    run.step({ reward: 0.25 });
    run.score('correctness', 0.8, { comment: 'one edge case missed', source: 'llm-judge' });
    run.score('judge', 0.6, { step: 1 });
    run.score('judge', 0.9, { step: 2 });
    run.score('verdict', 'pass');
    run.score('verdict', 'fail', { step: 2, comment: 'wrong cell' });
    run.feedback('thumbs_up', true, { comment: 'x'.repeat(6000), source: 'user' });
    const child = run.child({ runId: 'mlf-score-child', task: 'nested', tags: ['sub'] });
    child.end({ completed: false, error: 'gave up' });
    run.end({ finalAnswer: 'done' });
    await obs.flush({ timeoutMs: 60_000 });
    // Late feedback, on the finished MLflow run.
    run.feedback('rating', 4, { step: 2 });
    run.feedback('label', 'good');
    expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);

    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const [found] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-score-1');
    const mlflowRun = await client.getRun(found!.info.run_id);
    expect(mlflowRun.info.status).toBe('FINISHED');
    const latest = Object.fromEntries((mlflowRun.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(latest).toMatchObject({
      'score.correctness': 0.8,
      'score.judge': 0.9,
      'feedback.thumbs_up': 1,
      'feedback.rating': 4,
      // The seed's end-of-run scores.
      'score.reward': 0.75,
      'score.completed': 1,
    });
    expect(latest['score.verdict']).toBeUndefined();
    const history = async (key: string) =>
      (await client.getMetricHistory(mlflowRun.info.run_id, key)).map((m) => [m.step, m.value]);
    expect(await history('score.judge')).toEqual([
      [1, 0.6],
      [2, 0.9],
    ]);
    expect(await history('feedback.rating')).toEqual([[2, 4]]);
    expect(await history('score.correctness')).toEqual([[0, 0.8]]);
    const tags = Object.fromEntries((mlflowRun.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({
      'score.verdict': 'pass',
      'score.verdict.step_2': 'fail',
      'score.verdict.step_2.comment': 'wrong cell',
      'feedback.label': 'good',
      'score.correctness.comment': 'one edge case missed',
      'score.correctness.source': 'llm-judge',
      'feedback.thumbs_up.source': 'user',
      'rlm.session_id': 'conv-42',
      'mlflow.user': 'user-7',
      'rlm.user_id': 'user-7',
      'rlm.tags': 'eval,nightly run',
      'rlm.tag.eval': 'true',
      'rlm.tag.nightly run': 'true',
    });
    expect(tags['score.reward.source']).toBeUndefined();
    const comment = tags['feedback.thumbs_up.comment']!;
    expect(comment.length).toBeLessThanOrEqual(LIMITS.tagValueLength);
    expect(comment.startsWith('xxx')).toBe(true);
    expect(comment.endsWith('…[truncated]')).toBe(true);

    // The nested run inherits the session, the user and the labels, and has its own scores.
    const [childRun] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-score-child');
    const childTags = Object.fromEntries((childRun!.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(childTags).toMatchObject({
      'rlm.session_id': 'conv-42',
      'mlflow.user': 'user-7',
      'rlm.tags': 'eval,nightly run,sub',
      'rlm.tag.sub': 'true',
    });
    const childMetrics = Object.fromEntries(
      (childRun!.data.metrics ?? []).map((m) => [m.key, m.value]),
    );
    expect(childMetrics).toMatchObject({ 'score.reward': 0, 'score.completed': 0 });

    // Another process scores the run: found by its run_id tag. A run MLflow has not seen is
    // counted, not sent.
    const other = await createSink({ trackingUri: server.url, experiment, maxRetries: 0 });
    const at = new Date().toISOString();
    other.onScore('mlf-score-1', { name: 'reviewed', value: true, kind: 'feedback', at });
    other.onScore('mlf-never-seen', { name: 'x', value: 1, kind: 'score', at });
    await other.forceFlush();
    expect(other.stats()).toMatchObject({ failed: 0, unmatched_scores: 1 });
    expect(await history('feedback.reviewed')).toEqual([[0, 1]]);
  }, 120_000);

  for (const status of ['401', '403'] as const) {
    it(`after HTTP ${status} the sink pauses, counts what it skips, and resumes when the credentials work`, async () => {
      const experiment = `rlm-auth-${status}-${Date.now()}`;
      const proxy = await startAuthProxy(
        server.url,
        `Basic ${Buffer.from('alice:s3cret-pw').toString('base64')}`,
      );
      let now = 1_800_000_000_000;
      try {
        const sink = await createSink({
          trackingUri: proxy.url,
          experiment,
          username: 'alice',
          password: 's3cret-pw',
          maxRetries: 0,
          authCooldown: { now: () => now, random: () => 0.5 },
        });
        expect(sink.status()).toMatchObject({ available: true, detail: proxy.url });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        proxy.mode = status;
        const run = obs.startRun({ runId: `mlf-auth-${status}`, task: 't' });
        run.step({ reward: 1 }); // queued before the refusal: skipped by the worker
        expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(false);
        expect(sink.status()).toMatchObject({
          available: true,
          detail: `${proxy.url}; auth failed (HTTP ${status}): paused for 60s, 1 events skipped; check the credentials`,
          authFailures: 1,
          authSkipped: 1,
          authPausedUntil: new Date(now + 60_000).toISOString(),
        });

        // During the pause nothing is sent, and everything is counted.
        const requests = proxy.routes.length;
        for (let i = 0; i < 5; i++) run.step({ reward: 1 });
        run.score('quality', 0.9);
        now += 30_000;
        expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(false);
        expect(proxy.routes.length).toBe(requests);
        expect(sink.status().detail).toBe(
          `${proxy.url}; auth failed (HTTP ${status}): paused for 30s, 7 events skipped; check the credentials`,
        );
        expect(sink.stats()).toMatchObject({ authFailures: 1, authSkipped: 7, failed: 1 });
        const check = await sink.check();
        expect(check.ok).toBe(false);
        expect(check.problems[0]!.problem).toContain(`HTTP ${status}`);
        expect(check.problems[0]!.fix).toContain('MLFLOW_TRACKING_USERNAME');
        expect(proxy.routes.length).toBe(requests);
        for (const text of [
          JSON.stringify(sink.status()),
          JSON.stringify(sink.stats()),
          JSON.stringify(check),
        ])
          expect(text).not.toContain('s3cret-pw');

        // The pause is over and the server takes the credentials again.
        now += 30_001;
        proxy.mode = 'ok';
        expect(sink.status().detail).toBe(
          `${proxy.url}; auth failed (HTTP ${status}) 1x; retrying`,
        );
        run.step({ reward: 1 });
        run.end();
        expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
        expect(sink.status()).toMatchObject({
          detail: proxy.url,
          authFailures: 1,
          authSkipped: 7,
          authPausedUntil: null,
        });
        expect((await sink.check()).ok).toBe(true);

        // The run was created with its first operation after the pause, and ended.
        const client = new MlflowClient({ trackingUri: server.url });
        const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
        const [found] = await client.findRunsByTag(experimentId, 'run_id', `mlf-auth-${status}`);
        expect(found!.info.status).toBe('FINISHED');
        expect(
          (await client.getMetricHistory(found!.info.run_id, 'step_reward')).map((m) => m.step),
        ).toEqual([7]);
        const latest = Object.fromEntries((found!.data.metrics ?? []).map((m) => [m.key, m.value]));
        expect(latest).toMatchObject({ steps: 7, 'score.reward': 7, 'score.completed': 1 });
        expect(latest['score.quality']).toBeUndefined();
      } finally {
        await proxy.close();
      }
    }, 120_000);
  }

  it('names that clean to the same key cost nothing: every label, param and score reaches MLflow', async () => {
    const experiment = `rlm-keys-${Date.now()}`;
    const sink = await createSink({ trackingUri: server.url, experiment, uploadArtifacts: false });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const run = obs.startRun({
      runId: 'mlf-keys-1',
      task: 'keys',
      environment: 'e',
      // 評価/本番 were both `rlm.tag.__` (runs/create refused the run: UNIQUE constraint);
      // model(name)/model[name] both `model_name_` (log-batch refused every param).
      tags: ['評価', '本番', 'a!', 'a?'],
      params: {
        'model(name)': 'gpt-x',
        'model[name]': 'gpt-y',
        max_steps: 8,
        température: 0.2,
        '/abs//path/': 'p',
        '..': 'dots',
      },
    });
    run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
    run.score('quality(1)', 0.5);
    run.score('quality[1]', 0.7);
    run.end({ completed: true });
    expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    expect(sink.stats()).toMatchObject({ failed: 0 });
    const got = await new MlflowClient({ trackingUri: server.url }).getRun(
      sink.mlflowRunId('mlf-keys-1')!,
    );
    expect(Object.fromEntries((got.data.params ?? []).map((p) => [p.key, p.value]))).toEqual({
      model_name_: 'gpt-x',
      model_name__2: 'gpt-y',
      max_steps: '8',
      température: '0.2',
      '_/abs/_/path/_': 'p',
      __: 'dots',
      environment: 'e',
      task_chars: '4',
    });
    const tags = Object.fromEntries((got.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({
      'rlm.tags': '評価,本番,a!,a?',
      'rlm.tag.評価': 'true',
      'rlm.tag.本番': 'true',
      'rlm.tag.a_': 'true',
      'rlm.tag.a__2': 'true',
    });
    const metrics = Object.fromEntries((got.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(metrics).toMatchObject({ 'score.quality_1_': 0.5, 'score.quality_1__2': 0.7 });
  }, 120_000);

  it("a sub-run that starts after its parent ended is still its parent's child (rlm-obs replay)", async () => {
    const experiment = `rlm-nest-late-${Date.now()}`;
    const parentOf = async (sink: MlflowSink, id: string) => {
      const run = await new MlflowClient({ trackingUri: server.url }).getRun(sink.mlflowRunId(id)!);
      return (run.data.tags ?? []).find((t) => t.key === 'mlflow.parentRunId')?.value;
    };
    const end = { result: { completed: true, steps: 0, totalReward: 0 } };
    const sink = await createSink({ trackingUri: server.url, experiment, uploadArtifacts: false });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    // Run by run, the parent first: the parent has ended when its sub-run starts.
    obs.onRunStart('late-parent', { task: 'p', environment: 'e', params: {} });
    obs.onRunEnd('late-parent', end);
    await obs.flush({ timeoutMs: 60_000 });
    obs.onRunStart('late-child', {
      task: 'c',
      environment: 'e',
      parentRunId: 'late-parent',
      params: {},
    });
    obs.onRunEnd('late-child', end);
    expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    const parent = sink.mlflowRunId('late-parent');
    expect(parent).toBeDefined();
    expect(await parentOf(sink, 'late-child')).toBe(parent);

    // A sink that never saw the parent (another process) finds it by its run_id tag.
    const other = await createSink({ trackingUri: server.url, experiment, uploadArtifacts: false });
    const obs2 = RLMObservability.withSinks([other], { flushOnExit: false, logger: false });
    obs2.onRunStart('later-child', {
      task: 'c',
      environment: 'e',
      parentRunId: 'late-parent',
      params: {},
    });
    obs2.onRunEnd('later-child', end);
    expect((await obs2.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    expect(await parentOf(other, 'later-child')).toBe(parent);
  }, 120_000);

  it('a deleted experiment is reported as such, and runs are recorded again once it is restored', async () => {
    const experiment = `rlm-deleted-${Date.now()}`;
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = await client.ensureExperiment(experiment);
    await client.request('POST', 'experiments/delete', { experiment_id: experimentId });
    const message = `experiment '${experiment}' is deleted in MLflow: restore it or choose another experiment`;

    const sink = await createSink({ trackingUri: server.url, experiment, uploadArtifacts: false });
    expect(sink.status()).toMatchObject({ available: false });
    expect(sink.status().detail).toBe(`unavailable: ${message} (${server.url})`);
    const check = await sink.check();
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual([
      {
        problem: `${server.url}: ${message}`,
        fix: expect.stringContaining(`mlflow experiments restore --experiment-id ${experimentId}`),
      },
    ]);
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const record = (id: string) => {
      obs.onRunStart(id, { task: 't', environment: 'e', params: {} });
      obs.onStep(id, { event: { step: 1, reward: 1 }, cumulativeReward: 1 });
      obs.onRunEnd(id, { result: { completed: true, steps: 1, totalReward: 1 } });
    };
    record('in-deleted');
    const report = await obs.flush({ timeoutMs: 60_000 });
    expect(report.ok).toBe(false);
    // The reason, not "the MLflow run was never created" of the run's later operations.
    expect(sink.stats().last_error).toContain(message);
    expect(JSON.stringify(report)).toContain(message);

    // Restored: the next run is created, and the sink is available again.
    await client.request('POST', 'experiments/restore', { experiment_id: experimentId });
    record('after-restore');
    expect((await obs.flush({ timeoutMs: 60_000 })).ok).toBe(true);
    expect(sink.status()).toMatchObject({ available: true, detail: server.url });
    expect(await client.findRunsByTag(experimentId, 'run_id', 'after-restore')).toHaveLength(1);

    // Deleted while the sink runs: runs/create is refused; the sink says why.
    await client.request('POST', 'experiments/delete', { experiment_id: experimentId });
    record('deleted-again');
    expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(false);
    expect(sink.stats().last_error).toContain(message);
    expect(sink.status()).toMatchObject({ available: false });
    expect(sink.status().detail).toContain(message);
  }, 120_000);

  it("task_chars is the task's length in code points, also when recordContent is false", async () => {
    const experiment = `rlm-task-chars-${Date.now()}`;
    const sink = await createSink({ trackingUri: server.url, experiment, uploadArtifacts: false });
    const hidden = RLMObservability.withSinks([sink], {
      flushOnExit: false,
      logger: false,
      recordContent: false,
    });
    hidden.startRun({ runId: 'chars-hidden', task: 'x'.repeat(1234), environment: 'e' }).end({
      completed: true,
    });
    await hidden.flush({ timeoutMs: 60_000 });
    const shown = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    // Python's len('a😀b') is 3 (UTF-16 has 4 units).
    shown
      .startRun({ runId: 'chars-emoji', task: 'a😀b', environment: 'e' })
      .end({ completed: true });
    expect((await shown.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    await hidden.shutdown({ timeoutMs: 60_000 });
    const client = new MlflowClient({ trackingUri: server.url });
    const taskChars = async (id: string) =>
      (await client.getRun(sink.mlflowRunId(id)!)).data.params?.find((p) => p.key === 'task_chars')
        ?.value;
    expect(await taskChars('chars-hidden')).toBe('1234');
    expect(await taskChars('chars-emoji')).toBe('3');
  }, 120_000);

  it('a run that ends while the server is down is ended once it is back: final metrics and status', async () => {
    const experiment = `rlm-end-outage-${Date.now()}`;
    const sink = await createSink({ trackingUri: server.url, experiment, maxRetries: 1 });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const run = obs.startRun({ runId: 'mlf-ends-in-outage', task: 't' });
    run.step({ reward: 1 });
    expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(true);
    await server.stop();
    try {
      run.end({ completed: true });
      const outage = await obs.flush({ timeoutMs: 30_000 });
      expect(outage.ok).toBe(false);
      expect(outage.sinks[0]!.error).toContain("1 runs' ends not sent yet");
      expect(sink.status()).toMatchObject({ pending_ends: 1 });
      // Every flush tries it again, and says so until it went through.
      const again = await obs.flush({ timeoutMs: 30_000 });
      expect(again.sinks[0]!.error).toContain("1 runs' ends not sent yet");
    } finally {
      await server.start();
    }
    // The next write MLflow takes sends the end that waited; the shutdown flush has nothing left.
    obs.startRun({ runId: 'mlf-after-the-outage', task: 't' }).end({ completed: true });
    expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    expect(sink.status()).toMatchObject({ pending_ends: 0 });
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const [ended] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-ends-in-outage');
    expect(ended!.info.status).toBe('FINISHED');
    expect(ended!.info.end_time).toEqual(expect.any(Number));
    const latest = Object.fromEntries((ended!.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(latest).toMatchObject({ completed: 1, steps: 1, total_reward: 1, step_reward: 1 });
  }, 240_000);

  it('the MLflow run is ended even after its final metrics are refused: for good (400), or until MLflow takes them (500)', async () => {
    const experiment = `rlm-end-refused-${Date.now()}`;
    const proxy = await startAuthProxy(
      server.url,
      `Basic ${Buffer.from('carol:pw-end').toString('base64')}`,
    );
    // The proxy answers the final log-batch (the one with total_reward) itself.
    let refuse: number | undefined = 400;
    proxy.answer = (route, body) =>
      route.endsWith('/runs/log-batch') && body.toString().includes('"total_reward"')
        ? refuse
        : undefined;
    const client = new MlflowClient({ trackingUri: server.url });
    const runOf = async (runId: string) => {
      const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
      const [run] = await client.findRunsByTag(experimentId, 'run_id', runId);
      return run!;
    };
    try {
      const sink = await createSink({
        trackingUri: proxy.url,
        experiment,
        username: 'carol',
        password: 'pw-end',
        maxRetries: 0,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const done = obs.startRun({ runId: 'mlf-end-400', task: 't' });
      done.step({ reward: 1 });
      done.end({ completed: true });
      const first = await obs.flush({ timeoutMs: 30_000 });
      expect(first.ok).toBe(false);
      expect(first.sinks[0]!.error).toContain('answered 400 by the test proxy');
      expect((await runOf('mlf-end-400')).info.status).toBe('FINISHED');
      expect(sink.status()).toMatchObject({ pending_ends: 0 }); // refused for good: given up

      refuse = 500;
      const failed = obs.startRun({ runId: 'mlf-end-500', task: 't' });
      failed.step({ reward: 0 });
      failed.end({ completed: false });
      expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(false);
      // Ended although its final metrics wait for MLflow.
      const waiting = await runOf('mlf-end-500');
      expect(waiting.info.status).toBe('FAILED');
      expect((waiting.data.metrics ?? []).map((m) => m.key)).not.toContain('total_reward');
      expect(sink.status()).toMatchObject({ pending_ends: 1 });

      refuse = undefined;
      expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
      const sent = await runOf('mlf-end-500');
      expect(sent.info.status).toBe('FAILED');
      expect(
        Object.fromEntries((sent.data.metrics ?? []).map((m) => [m.key, m.value])),
      ).toMatchObject({ completed: 0, steps: 1, total_reward: 0 });
      expect(JSON.stringify(sink.status())).not.toContain('pw-end');
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('the whole run_path is uploaded: deep trees, linked files, over 1000 files; linked directories (a loop, a way out) are not walked, as in MLflow, and with a file that cannot be, counted and reported', async () => {
    const experiment = `rlm-tree-${Date.now()}`;
    const tree = path.join(server.dir, 'tree');
    const root = path.join(tree, 'run-tree');
    const deep = path.join(root, ...'abcdefghijkl');
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'deep.txt'), 'deep');
    fs.writeFileSync(path.join(root, 'top.txt'), 'top');
    // A file linked from outside run_path; a link back to run_path itself (a loop) and one to
    // a directory outside it: links to directories are not walked (MLflow's os.walk does not).
    fs.writeFileSync(path.join(tree, 'outside.txt'), 'outside');
    fs.symlinkSync(path.join(tree, 'outside.txt'), path.join(root, 'linked.txt'));
    fs.symlinkSync(root, path.join(root, 'a', 'loop'));
    fs.mkdirSync(path.join(tree, 'elsewhere'));
    fs.writeFileSync(path.join(tree, 'elsewhere', 'private.txt'), 'not part of the run');
    fs.symlinkSync(path.join(tree, 'elsewhere'), path.join(root, 'way-out'));
    // 1000 files, then one more in a directory walked after them.
    fs.mkdirSync(path.join(root, 'many'));
    for (let i = 0; i < 1000; i++)
      fs.writeFileSync(path.join(root, 'many', `f${String(i).padStart(4, '0')}.txt`), String(i));
    fs.mkdirSync(path.join(root, 'zz'));
    fs.writeFileSync(path.join(root, 'zz', 'last.txt'), 'last');
    // A link to nothing cannot be uploaded.
    fs.symlinkSync(path.join(tree, 'missing.txt'), path.join(root, 'broken.txt'));

    const sink = await createSink({ trackingUri: server.url, experiment });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    obs.startRun({ runId: 'mlf-tree', task: 't', runPath: root }).end({ completed: true });
    const report = await obs.shutdown({ timeoutMs: 120_000 });
    expect(report.ok).toBe(false);
    expect(report.sinks[0]!.error).toContain('3 artifact files not uploaded (run-tree/broken.txt');
    expect(sink.status()).toMatchObject({ artifacts_skipped: 3, operations_failed: 0 });
    expect(sink.status().last_error).toContain('run-tree/broken.txt');

    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const [run] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-tree');
    expect(run!.info.status).toBe('FINISHED');
    const files: string[] = [];
    const walk = async (at: string): Promise<void> => {
      for (const entry of await client.listArtifacts(run!.info.run_id, at))
        if (entry.is_dir) await walk(entry.path);
        else files.push(entry.path);
    };
    await walk('');
    expect(files).toHaveLength(1004);
    expect(files).toEqual(
      expect.arrayContaining([
        'run-tree/a/b/c/d/e/f/g/h/i/j/k/l/deep.txt',
        'run-tree/linked.txt',
        'run-tree/top.txt',
        'run-tree/many/f0999.txt',
        'run-tree/zz/last.txt',
      ]),
    );
    expect(files.filter((f) => f.includes('loop') || f.includes('way-out'))).toEqual([]);
  }, 240_000);

  it("a run's end MLflow keeps failing does not hold back later runs' ends", async () => {
    const experiment = `rlm-end-stuck-${Date.now()}`;
    const proxy = await startAuthProxy(
      server.url,
      `Basic ${Buffer.from('dave:pw-stuck').toString('base64')}`,
    );
    // runs/update of the stuck run is answered 503 until `stuck` is cleared; every run's while
    // `busy`.
    let stuck: string | undefined;
    let busy = false;
    proxy.answer = (route, body) =>
      route.endsWith('/runs/update') && (busy || (stuck && body.toString().includes(stuck)))
        ? 503
        : undefined;
    const client = new MlflowClient({ trackingUri: server.url });
    const statusOf = async (runId: string) => {
      const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
      const [run] = await client.findRunsByTag(experimentId, 'run_id', runId);
      return run!.info.status;
    };
    try {
      const sink = await createSink({
        trackingUri: proxy.url,
        experiment,
        username: 'dave',
        password: 'pw-stuck',
        maxRetries: 0,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const first = obs.startRun({ runId: 'mlf-stuck-end', task: 't' });
      expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(true);
      stuck = sink.mlflowRunId('mlf-stuck-end');
      first.end({ completed: true });
      expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(false);
      // A later run ends while MLflow fails every status update for a moment.
      busy = true;
      obs.startRun({ runId: 'mlf-behind-it', task: 't' }).end({ completed: true });
      expect((await obs.flush({ timeoutMs: 30_000 })).ok).toBe(false);
      expect(sink.status()).toMatchObject({ pending_ends: 2 });
      busy = false;
      // MLflow is back for every run but the first: the later end goes although the first's
      // (tried before it) fails again.
      const healthy = await obs.flush({ timeoutMs: 30_000 });
      expect(healthy.sinks[0]!.error).toContain("1 runs' ends not sent yet");
      expect(sink.status()).toMatchObject({ pending_ends: 1 });
      expect(await statusOf('mlf-behind-it')).toBe('FINISHED');
      expect(await statusOf('mlf-stuck-end')).toBe('RUNNING');
      stuck = undefined;
      expect((await obs.shutdown({ timeoutMs: 30_000 })).ok).toBe(true);
      expect(sink.status()).toMatchObject({ pending_ends: 0 });
      expect(await statusOf('mlf-stuck-end')).toBe('FINISHED');
      expect(JSON.stringify(sink.status())).not.toContain('pw-stuck');
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('an artifact file MLflow keeps failing (an error or no answer) is given up after 3 tries; the status does not wait for it', async () => {
    const experiment = `rlm-art-bound-${Date.now()}`;
    const root = path.join(server.dir, 'bounded', 'run-bounded');
    fs.mkdirSync(root, { recursive: true });
    // In upload order: one never answered (a timeout), one answered 503, one that goes.
    for (const name of ['a-slow.txt', 'b-failing.txt', 'c-good.txt'])
      fs.writeFileSync(path.join(root, name), name);
    const proxy = await startAuthProxy(
      server.url,
      `Basic ${Buffer.from('erin:pw-bound').toString('base64')}`,
    );
    const puts = (name: string) =>
      proxy.routes.filter((r) => r.startsWith('PUT ') && r.endsWith(`/run-bounded/${name}`)).length;
    proxy.answer = (route) =>
      route.startsWith('PUT ') && route.endsWith('/a-slow.txt')
        ? 'hang'
        : route.startsWith('PUT ') && route.endsWith('/b-failing.txt')
          ? 503
          : undefined;
    const client = new MlflowClient({ trackingUri: server.url });
    const runOf = async () => {
      const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
      const [run] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-bounded');
      return run!;
    };
    try {
      const sink = await createSink({
        trackingUri: proxy.url,
        experiment,
        username: 'erin',
        password: 'pw-bound',
        maxRetries: 0,
        timeoutMs: 3000,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      obs.startRun({ runId: 'mlf-bounded', task: 't', runPath: root }).end({ completed: true });
      const errors: string[] = [];
      const first = await obs.flush({ timeoutMs: 60_000 });
      errors.push(first.sinks[0]!.error ?? '');
      // Ended although a file got no answer and another failed.
      expect((await runOf()).info.status).toBe('FINISHED');
      for (let i = 0; i < 5 && sink.status().pending_ends !== 0; i++)
        errors.push((await obs.flush({ timeoutMs: 60_000 })).sinks[0]!.error ?? '');
      expect(sink.status()).toMatchObject({ pending_ends: 0, artifacts_skipped: 2 });
      expect(puts('a-slow.txt')).toBe(3);
      expect(puts('b-failing.txt')).toBe(3);
      expect(puts('c-good.txt')).toBe(1);
      // Reported when given up, once: later flushes have nothing to say.
      const reported = errors.flatMap((e) =>
        [...e.matchAll(/(\d+) artifact files not uploaded/g)].map((m) => Number(m[1])),
      );
      expect(reported).toEqual([2]);
      expect(errors.join('\n')).toContain('given up after 3 tries');
      expect((await obs.flush({ timeoutMs: 60_000 })).ok).toBe(true);
      expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
      expect(puts('a-slow.txt') + puts('b-failing.txt')).toBe(6);
      const run = await runOf();
      expect(run.info.status).toBe('FINISHED');
      expect(
        (await client.listArtifacts(run.info.run_id, 'run-bounded')).map((f) => f.path),
      ).toEqual(['run-bounded/c-good.txt']);
      expect(JSON.stringify(sink.status())).not.toContain('pw-bound');
    } finally {
      await proxy.close();
    }
  }, 180_000);

  it("params are stored as Python's str() stores them: True/False, None, numbers as given", async () => {
    const experiment = `rlm-py-params-${Date.now()}`;
    const sink = await createSink({ trackingUri: server.url, experiment });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    obs
      .startRun({
        runId: 'mlf-py-params',
        task: 'task',
        environment: 'env',
        params: { flag: true, off: false, none: null, n: 1, ratio: 0.5, name: 'x' },
      })
      .end({ completed: true });
    expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
    const client = new MlflowClient({ trackingUri: server.url });
    const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
    const [run] = await client.findRunsByTag(experimentId, 'run_id', 'mlf-py-params');
    expect(Object.fromEntries((run!.data.params ?? []).map((p) => [p.key, p.value]))).toEqual({
      flag: 'True',
      off: 'False',
      none: 'None',
      n: '1',
      ratio: '0.5',
      name: 'x',
      environment: 'env',
      task_chars: '4',
    });
  }, 60_000);

  describeSinkConformance(
    () => new MlflowSink({ trackingUri: server.url, experiment: 'rlm-conformance', maxRetries: 0 }),
    {
      title: 'mlflow conformance',
      timeoutMs: 60_000,
      // From the MLflow server itself: each step is a point of the step_reward metric (in the
      // order MLflow keeps them), and an ended run has an end time.
      readBack: async (sink, runId) => {
        const client = new MlflowClient({ trackingUri: server.url });
        const mlflowRunId = sink.mlflowRunId(runId);
        if (!mlflowRunId) return { steps: [], ended: false };
        const [history, run] = await Promise.all([
          client.getMetricHistory(mlflowRunId, 'step_reward'),
          client.getRun(mlflowRunId),
        ]);
        return {
          steps: history.map((point) => point.step),
          ended: typeof run.info.end_time === 'number' && run.info.status !== 'RUNNING',
        };
      },
    },
  );
});

describe.skipIf(!command)(
  'mlflow sink against a tracking server that does not proxy artifacts',
  () => {
    let server: MlflowServer;
    beforeAll(async () => {
      server = await createMlflowServer(command!, { serveArtifacts: false });
      await server.start();
    }, 150_000);
    afterAll(async () => {
      await server?.stop();
      server?.remove();
    });

    it('--no-serve-artifacts: every run ends FINISHED, its files counted as skipped and reported once', async () => {
      const experiment = `rlm-no-proxy-${Date.now()}`;
      const root = path.join(server.dir, 'run-files', 'run-no-proxy');
      fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(root, 'a.txt'), 'a');
      fs.writeFileSync(path.join(root, 'sub', 'b.txt'), 'b');
      const sink = await createSink({ trackingUri: server.url, experiment, maxRetries: 0 });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      for (const id of ['mlf-no-proxy-1', 'mlf-no-proxy-2']) {
        const run = obs.startRun({ runId: id, task: 't', runPath: root });
        run.step({ reward: 1 });
        run.end({ completed: true });
      }
      const first = await obs.flush({ timeoutMs: 60_000 });
      expect(first.ok).toBe(false);
      expect(first.sinks[0]!.error).toBe(
        '4 artifact files not uploaded (the tracking server does not proxy artifacts (artifact_uri /…); run it with --serve-artifacts)',
      );
      expect(sink.status()).toMatchObject({
        pending_ends: 0,
        artifacts_skipped: 4,
        operations_failed: 0,
      });
      // Said once: later flushes, a later run's and the shutdown's, have nothing to report.
      expect((await obs.flush({ timeoutMs: 60_000 })).ok).toBe(true);
      obs.startRun({ runId: 'mlf-no-proxy-3', task: 't' }).step({ reward: 1 });
      expect((await obs.flush({ timeoutMs: 60_000 })).ok).toBe(true);
      expect((await obs.shutdown({ timeoutMs: 60_000 })).ok).toBe(true);
      expect(sink.status()).toMatchObject({ artifacts_skipped: 4, operations_failed: 0 });
      expect(JSON.stringify(sink.status())).not.toContain(server.dir);

      const client = new MlflowClient({ trackingUri: server.url });
      const experimentId = (await client.getExperimentByName(experiment))!.experiment_id;
      for (const id of ['mlf-no-proxy-1', 'mlf-no-proxy-2']) {
        const [run] = await client.findRunsByTag(experimentId, 'run_id', id);
        expect(run!.info.artifact_uri).not.toMatch(/^mlflow-artifacts:/);
        expect(run!.info.status).toBe('FINISHED');
        expect(
          Object.fromEntries((run!.data.metrics ?? []).map((m) => [m.key, m.value])),
        ).toMatchObject({ completed: 1, steps: 1, total_reward: 1 });
      }
    }, 120_000);
  },
);
