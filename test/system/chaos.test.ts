/**
 * Issue 11, the chaos test: one run of 10,000 steps through all six sinks while each remote
 * backend in turn goes away for 30 s — MLflow's real tracking server stopped, the OTLP
 * receiver answering 503 then 429, LangSmith answering 503, Logfire's endpoint stopped
 * (listening socket closed), then Langfuse and LangSmith hanging while the run ends. The
 * caller is never blocked, the status shows per sink what was lost, and once the backends
 * are back `rlm-obs replay` (the built CLI, one config per backend) delivers what was lost
 * from the local JSONL files: every backend ends with all 10,000 steps, each once.
 *
 * No assertion is about time: the outages follow a clock, the assertions follow what happened.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RLMObservability, type StepEvent, spanIdFromRunId, traceIdFromRunId } from '@rlm/obs-core';
import { createJsonlSink, openJsonlStore } from '@rlm/sink-jsonl';
import { createSink as createLangfuseSink } from '@rlm/sink-langfuse';
import { createSink as createLangSmithSink, langsmithRunId } from '@rlm/sink-langsmith';
import { createSink as createLogfireSink } from '@rlm/sink-logfire';
import { createSink as createMlflowSink, MlflowClient } from '@rlm/sink-mlflow';
import { createSink as createOtelSink } from '@rlm/sink-otel';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type HttpReceiver,
  type ReceivedSpan,
  startHttpReceiver,
} from '../../packages/otel-common/test/receivers.js';
import {
  type LangfuseReceiver,
  startLangfuseReceiver,
} from '../../packages/sink-langfuse/test/langfuse-receiver.js';
import {
  type LangSmithReceiver,
  type LangSmithRun,
  startLangSmithReceiver,
} from '../../packages/sink-langsmith/test/langsmith-receiver.js';
import {
  createMlflowServer,
  type MlflowServer,
  mlflowCommand,
} from '../../packages/sink-mlflow/test/mlflow-server.js';
import {
  type ChaosProxy,
  conflictingIds,
  mlflowMetricHistory,
  RunHistory,
  sleep,
  stable,
  startChaosProxy,
} from './chaos-backends.js';

const command = mlflowCommand();
if (!command && process.env.RLM_OBS_REQUIRE_MLFLOW)
  throw new Error('MLflow is required here: run scripts/setup-mlflow.sh');

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'packages/obs-cli/dist/cli.js');
const dist = (pkg: string) => path.join(ROOT, 'packages', pkg, 'dist/index.js');

/** `RLM_OBS_CHAOS_QUICK=1`: a fifth of everything, to try the test out. */
const SCALE = process.env.RLM_OBS_CHAOS_QUICK === '1' ? 0.2 : 1;
/** The run. */
const STEPS = 10_000 * SCALE;
/** The run is paced to last about this long, so the outages fall inside it. */
const RUN_MS = 120_000 * SCALE;
/** Each outage. */
const OUTAGE_MS = 30_000 * SCALE;
/** The schedule's unit: the run lasts 120 of them. */
const U = RUN_MS / 120;

/** Fake credentials: none of them may show up in a status, a log or the CLI's output. */
const SECRETS = {
  otel: 'otel-chaos-s3cret-header',
  logfire: 'pylf_v1_us_chaosFakeWriteToken0000',
  langfusePublic: 'pk-lf-chaos',
  langfuseSecret: 'sk-lf-chaos-s3cret',
  langsmith: 'lsv2_pt_chaos_s3cret_key',
};

/** The remote sinks and how their backends fail, in order. */
type Outage = {
  backend: string;
  mode: string;
  /** Steps the caller made while it lasted. */
  steps: number;
  active: boolean;
};

function stepEvent(i: number): StepEvent {
  const failed = i % 97 === 0;
  const event: StepEvent = {
    action: { action: i % 10 === 0 ? 'submit' : 'run_python', code: `x = ${i}` },
    observation: failed
      ? { success: false, output: '', error: `NameError: step ${i}` }
      : { success: true, output: String(i * 2) },
    reward: failed ? -1 : (i % 5) / 4,
  };
  // Half the steps carry their own timing (as an instrumented agent would), half do not (as
  // the README's quick start does).
  if (i % 2 === 0) {
    event.startedAt = Date.now() - 3;
    event.durationMs = 3;
  }
  return event;
}

function expectedReward(i: number): number {
  return i % 97 === 0 ? -1 : (i % 5) / 4;
}

/** What a step span is, without the times of a step that did not give its own. */
function spanPrint(span: ReceivedSpan, step: number): string {
  return stable({
    name: span.name,
    traceId: span.traceId,
    parentSpanId: span.parentSpanId,
    attributes: span.attributes,
    events: span.events,
    status: span.status,
    ...(step % 2 === 0 ? { startNs: span.startNs, endNs: span.endNs } : {}),
  });
}

function langsmithPrint(run: LangSmithRun, step: number): string {
  const { start_time, end_time, dotted_order, ...rest } = run;
  return stable({
    ...rest,
    ...(step % 2 === 0 ? { start_time, end_time, dotted_order } : {}),
  });
}

/** Step spans of one run by step number, with every copy the receiver got. */
function stepsOf<T>(items: T[], step: (item: T) => number | undefined): Map<number, T[]> {
  const byStep = new Map<number, T[]>();
  for (const item of items) {
    const n = step(item);
    if (n === undefined) continue;
    const list = byStep.get(n);
    if (list) list.push(item);
    else byStep.set(n, [item]);
  }
  return byStep;
}

function noSecrets(label: string, text: string): void {
  for (const [name, secret] of Object.entries(SECRETS)) {
    // The Langfuse public key is not a secret (the status may name it); the rest are.
    if (name === 'langfusePublic') continue;
    expect(text.includes(secret), `${label} shows the ${name} secret`).toBe(false);
  }
}

describe.skipIf(!command)('chaos: six sinks, every remote backend fails in turn (issue 11)', () => {
  const cleanup: Array<() => unknown> = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
  });

  it('never blocks the caller, reports the losses, and a replay completes every backend without duplicates', async () => {
    const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-chaos-')));
    cleanup.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const jsonlDir = path.join(tmp, 'jsonl');

    // The backends.
    const mlflow: MlflowServer = await createMlflowServer(command!);
    cleanup.push(() => mlflow.remove());
    cleanup.push(() => mlflow.stop());
    await mlflow.start();
    const otelRx: HttpReceiver = await startHttpReceiver();
    cleanup.push(() => otelRx.close());
    const logfireRx: HttpReceiver = await startHttpReceiver();
    cleanup.push(() => logfireRx.close());
    const logfireProxy: ChaosProxy = await startChaosProxy(logfireRx.url);
    cleanup.push(() => logfireProxy.close());
    const langfuseRx: LangfuseReceiver = await startLangfuseReceiver(
      SECRETS.langfusePublic,
      SECRETS.langfuseSecret,
    );
    cleanup.push(() => langfuseRx.close());
    const langsmithRx: LangSmithReceiver = await startLangSmithReceiver(SECRETS.langsmith);
    cleanup.push(() => langsmithRx.close());
    const langsmithRuns = new RunHistory();
    langsmithRx.runs = langsmithRuns;

    // The same options live and in the replay configs (there with the secrets from the env).
    const options = {
      opentelemetry: {
        endpoint: otelRx.url,
        protocol: 'http/protobuf',
        headers: { authorization: `Bearer ${SECRETS.otel}` },
        serviceName: 'rlm-chaos',
      },
      logfire: { token: SECRETS.logfire, baseUrl: logfireProxy.url, projectName: 'rlm-chaos' },
      langfuse: {
        publicKey: SECRETS.langfusePublic,
        secretKey: SECRETS.langfuseSecret,
        baseUrl: langfuseRx.url,
      },
      langsmith: { apiKey: SECRETS.langsmith, apiUrl: langsmithRx.url, projectName: 'rlm-chaos' },
      mlflow: { trackingUri: mlflow.url, experiment: 'rlm-chaos' },
    } as const;

    const jsonl = createJsonlSink({ dir: jsonlDir });
    const otel = createOtelSink({
      ...options.opentelemetry,
      headers: { ...options.opentelemetry.headers },
    });
    const logfire = createLogfireSink({ ...options.logfire });
    const langfuse = await createLangfuseSink({ ...options.langfuse });
    const langsmith = await createLangSmithSink({ ...options.langsmith });
    const mlflowSink = await createMlflowSink({ ...options.mlflow });
    const logs: string[] = [];
    const obs = RLMObservability.withSinks(
      [jsonl, otel, logfire, langfuse, langsmith, mlflowSink],
      {
        flushOnExit: false,
        logger: { warn: (message) => logs.push(message) },
      },
    );
    for (const status of obs.status()) expect(status.available, status.name).toBe(true);

    // The outages, on a clock of their own; the caller's loop only counts steps.
    const outages: Outage[] = [];
    const outage = (backend: string, mode: string): Outage => {
      const o = { backend, mode, steps: 0, active: true };
      outages.push(o);
      return o;
    };
    const runId = `chaos-${Date.now()}`;
    const run = obs.startRun({
      runId,
      task: 'chaos: 10,000 steps through six sinks while the backends fail',
      environment: 'chaos',
      params: { max_steps: STEPS },
    });
    const t0 = Date.now();
    const at = (ms: number) => sleep(t0 + ms - Date.now());
    // Three independent outage tasks (one slow restart does not shift the others).
    const otelTask = (async () => {
      // OTLP traces: 503 for 15 s, then 429 for 15 s.
      await at(2 * U);
      const refusedFrom = otelRx.paths.length;
      otelRx.mode = '503';
      const otel503 = outage('opentelemetry', 'HTTP 503');
      await at(2 * U + OUTAGE_MS / 2);
      otel503.active = false;
      otelRx.mode = '429';
      const otel429 = outage('opentelemetry', 'HTTP 429');
      await at(2 * U + OUTAGE_MS);
      otel429.active = false;
      otelRx.mode = 'ok';
      return otelRx.paths.length - refusedFrom;
    })();
    const mlflowTask = (async () => {
      // MLflow: the real server stopped for 30 s, then started on the same port and store.
      await at(3 * U);
      await mlflow.stop();
      const down = outage('mlflow', 'server stopped');
      await sleep(OUTAGE_MS);
      down.active = false;
      await mlflow.start();
    })();
    const logfireLangsmithTask = (async () => {
      // LangSmith answers 503 and Logfire's endpoint is gone (socket closed), 30 s.
      await at(40 * U);
      langsmithRx.mode = '503';
      const langsmith503 = outage('langsmith', 'HTTP 503');
      await logfireProxy.stop();
      const logfireDown = outage('logfire', 'endpoint stopped');
      await sleep(OUTAGE_MS);
      langsmith503.active = false;
      langsmithRx.mode = 'ok';
      logfireDown.active = false;
      await logfireProxy.start();
    })();
    // Awaited after the run (a failure there is reported then, not as an unhandled rejection).
    for (const task of [otelTask, mlflowTask, logfireLangsmithTask]) task.catch(() => undefined);
    // Langfuse and LangSmith hang (take requests, never answer) from this step on, until
    // after the run ended and at least 30 s.
    const hangFrom = Math.round(STEPS * 0.8);
    let hangs: Outage[] = [];
    let hangAt = 0;
    let langfuseHangRequests = 0;

    // The caller: 10,000 steps; the only await is the pacing.
    let cumulative = 0;
    for (let i = 1; i <= STEPS; i++) {
      if (i === hangFrom) {
        langfuseRx.mode = 'hang';
        langsmithRx.mode = 'hang';
        langfuseHangRequests = langfuseRx.otlpRequests;
        hangs = [outage('langfuse', 'hang'), outage('langsmith', 'hang')];
        hangAt = Date.now();
      }
      cumulative = run.step(stepEvent(i));
      for (const o of outages) if (o.active) o.steps++;
      if (i % 25 === 0) await sleep(t0 + (i * RUN_MS) / STEPS - Date.now());
    }
    run.end({ finalAnswer: 'survived' });
    // Every step and the end returned while Langfuse and LangSmith were hanging: their
    // requests were taken and never answered.
    expect(langfuseRx.mode).toBe('hang');
    expect(langsmithRx.mode).toBe('hang');
    expect(langfuseRx.otlpRequests, 'Langfuse got requests it never answered').toBeGreaterThan(
      langfuseHangRequests,
    );
    // The coordinator saw no failure, no drop and nothing pending: the hooks returned at once.
    for (const status of obs.status())
      expect(status.counters, status.name).toMatchObject({ failed: 0, dropped: 0, pending: 0 });

    const otelRefused = await otelTask;
    expect(otelRefused, 'the OTLP receiver refused exports').toBeGreaterThan(0);
    await Promise.all([mlflowTask, logfireLangsmithTask]);
    await sleep(hangAt + OUTAGE_MS - Date.now());
    for (const o of hangs) o.active = false;
    langfuseRx.mode = 'ok';
    langsmithRx.mode = 'ok';
    // Every remote backend went through an outage of 30 s with steps made during it.
    expect(new Set(outages.map((o) => o.backend))).toEqual(
      new Set(['opentelemetry', 'mlflow', 'langsmith', 'logfire', 'langfuse']),
    );
    for (const o of outages) expect(o.steps, `${o.backend} ${o.mode}`).toBeGreaterThan(0);

    // Every backend is back: shut down, and look at what the status says.
    const report = await obs.shutdown({ timeoutMs: 120_000 });
    const statuses = obs.status();
    const byName = Object.fromEntries(statuses.map((s) => [s.name, s]));
    const stats = {
      opentelemetry: byName.opentelemetry as unknown as Record<string, number>,
      logfire: logfire.stats(),
      langfuse: langfuse.stats(),
      langsmith: langsmith.stats(),
      mlflow: mlflowSink.stats(),
    };
    console.log(
      'chaos: outages',
      outages.map((o) => `${o.backend} ${o.mode}: ${o.steps} steps`),
      '\nstatus',
      JSON.stringify(statuses, null, 1),
      '\nstats',
      JSON.stringify(stats, null, 1),
      '\nshutdown',
      JSON.stringify(report.sinks.map((s) => [s.name, s.ok, s.error ?? ''])),
    );
    for (const status of statuses)
      expect(status.counters, status.name).toMatchObject({ failed: 0, dropped: 0, pending: 0 });
    // The local files have everything.
    expect(report.sinks.find((s) => s.name === 'local-jsonl')!.ok).toBe(true);
    expect(jsonl.status()).toMatchObject({ available: true });
    // Each remote sink counted what it lost.
    const lostSpans = (s: { spans_failed: number; spans_dropped: number }) =>
      s.spans_failed + s.spans_dropped;
    expect(lostSpans(stats.opentelemetry as never)).toBeGreaterThan(0);
    expect(stats.opentelemetry.last_error).toBeDefined();
    expect(lostSpans(stats.logfire)).toBeGreaterThan(0);
    expect(stats.logfire.last_error).toBeDefined();
    expect(lostSpans(stats.langfuse)).toBeGreaterThan(0);
    expect(stats.langsmith.failed_requests).toBeGreaterThan(0);
    expect(stats.langsmith.last_error).toBeDefined();
    expect(stats.mlflow.failed).toBeGreaterThan(0);
    expect(stats.mlflow.last_error).toBeDefined();
    for (const s of [
      stats.opentelemetry,
      stats.logfire,
      stats.langfuse,
      stats.langsmith,
      stats.mlflow,
    ])
      expect(s).toMatchObject({ authFailures: 0 });
    noSecrets('the status', JSON.stringify({ statuses, stats, report, logs }));

    // The replay: the built CLI, a config per backend (secrets from the environment).
    const store = openJsonlStore(jsonlDir);
    const stored = await store.readRun(runId);
    expect(stored.steps).toHaveLength(STEPS);
    const env = {
      ...process.env,
      CHAOS_OTEL_AUTH: `Bearer ${SECRETS.otel}`,
      CHAOS_LOGFIRE_TOKEN: SECRETS.logfire,
      CHAOS_LANGFUSE_SECRET: SECRETS.langfuseSecret,
      CHAOS_LANGSMITH_KEY: SECRETS.langsmith,
    };
    const configs: Record<string, { pkg: string; options: unknown }> = {
      opentelemetry: {
        pkg: 'sink-otel',
        options: { ...options.opentelemetry, headers: { authorization: '${CHAOS_OTEL_AUTH}' } },
      },
      logfire: {
        pkg: 'sink-logfire',
        options: { ...options.logfire, token: '${CHAOS_LOGFIRE_TOKEN}' },
      },
      langfuse: {
        pkg: 'sink-langfuse',
        options: { ...options.langfuse, secretKey: '${CHAOS_LANGFUSE_SECRET}' },
      },
      langsmith: {
        pkg: 'sink-langsmith',
        options: { ...options.langsmith, apiKey: '${CHAOS_LANGSMITH_KEY}' },
      },
      mlflow: { pkg: 'sink-mlflow', options: options.mlflow },
    };
    for (const [name, { pkg, options: sinkOptions }] of Object.entries(configs)) {
      const dir = path.join(tmp, `replay-${name}`);
      fs.mkdirSync(dir);
      const config = path.join(dir, 'rlm-obs.config.mjs');
      fs.writeFileSync(
        config,
        `export default ${JSON.stringify({ sinks: [{ use: dist(pkg), options: sinkOptions }] }, null, 2)};\n`,
      );
      noSecrets(`the ${name} config`, fs.readFileSync(config, 'utf8'));
      const { stdout, stderr } = await execFileAsync(
        process.execPath,
        [CLI, 'replay', '--all', '--dir', jsonlDir, '--to', name, '--config', config, '--json'],
        { cwd: dir, env, maxBuffer: 16 * 1024 * 1024 },
      ).catch((error: { stdout?: string; stderr?: string; code?: number }) => {
        throw new Error(
          `replay --to ${name} failed (${error.code}):\n${error.stdout}\n${error.stderr}`,
        );
      });
      const replayed = JSON.parse(stdout);
      console.log(`chaos: replay --to ${name}`, replayed, stderr ? `\n${stderr}` : '');
      expect(replayed).toMatchObject({
        to: name,
        runs: 1,
        events: STEPS + 2,
        failed: 0,
        dropped: 0,
        ok: true,
      });
      noSecrets(`replay --to ${name}`, stdout + stderr);
    }

    const traceId = traceIdFromRunId(runId);
    const steps = Array.from({ length: STEPS }, (_, k) => k + 1);

    // OpenTelemetry: every step span once, by its derived id; no id with two contents.
    {
      const spans = otelRx.spans.filter((s) => s.traceId === traceId && s.name === 'rlm.step');
      const byStep = stepsOf(spans, (s) => s.attributes['rlm.step'] as number);
      expect([...byStep.keys()].sort((a, b) => a - b)).toEqual(steps);
      for (const [step, copies] of byStep) {
        expect(copies[0]!.spanId).toBe(spanIdFromRunId(runId, step));
        expect(copies[0]!.attributes['rlm.reward']).toBe(expectedReward(step));
      }
      expect(new Set(spans.map((s) => s.spanId)).size).toBe(STEPS);
      expect(
        conflictingIds(
          spans,
          (s) => s.spanId,
          (s) => spanPrint(s, s.attributes['rlm.step'] as number),
        ),
      ).toEqual([]);
      expect(otelRx.spans.filter((s) => s.name === 'rlm.run').length).toBeGreaterThan(0);
    }
    // Logfire: every step log once.
    {
      const logsOf = logfireRx.spans.filter(
        (s) => s.traceId === traceId && /^RLM step \{step\}/.test(s.name),
      );
      const byStep = stepsOf(logsOf, (s) => s.attributes.step as number);
      expect([...byStep.keys()].sort((a, b) => a - b)).toEqual(steps);
      for (const [step, copies] of byStep)
        expect(copies[0]!.spanId).toBe(spanIdFromRunId(runId, step));
      expect(new Set(logsOf.map((s) => s.spanId)).size).toBe(STEPS);
      expect(
        conflictingIds(
          logsOf,
          (s) => s.spanId,
          (s) => spanPrint(s, s.attributes.step as number),
        ),
      ).toEqual([]);
    }
    // Langfuse: every step observation once.
    {
      const spans = langfuseRx.spans.filter(
        (s) => s.traceId === traceId && /^step-\d+$/.test(s.name),
      );
      const byStep = stepsOf(spans, (s) => Number(s.name.slice(5)));
      expect([...byStep.keys()].sort((a, b) => a - b)).toEqual(steps);
      for (const [step, copies] of byStep)
        expect(copies[0]!.spanId).toBe(spanIdFromRunId(runId, step));
      expect(new Set(spans.map((s) => s.spanId)).size).toBe(STEPS);
      expect(
        conflictingIds(
          spans,
          (s) => s.spanId,
          (s) => {
            const step = Number(s.name.slice(5));
            return stable({
              name: s.name,
              parent: s.parentSpanId,
              attributes: s.attributes,
              status: s.status,
              ...(step % 2 === 0 ? { startNs: s.startNs, endNs: s.endNs } : {}),
            });
          },
        ),
      ).toEqual([]);
    }
    // LangSmith: every step run once (the receiver merges by id, as LangSmith does).
    {
      const startMs = Date.parse(run.startedAt);
      const stepRuns = [...langsmithRuns.values()].filter((r) => /^step-\d+$/.test(String(r.name)));
      const byStep = stepsOf(stepRuns, (r) => Number(String(r.name).slice(5)));
      expect([...byStep.keys()].sort((a, b) => a - b)).toEqual(steps);
      for (const [step, copies] of byStep) {
        expect(copies).toHaveLength(1);
        expect(copies[0]!.id).toBe(langsmithRunId(runId, startMs, step));
        expect(copies[0]!.outputs).toMatchObject({ reward: expectedReward(step) });
      }
      const versions = stepRuns.flatMap((r) => langsmithRuns.versions.get(r.id)!);
      expect(
        conflictingIds(
          versions,
          (r) => r.id,
          (r) => langsmithPrint(r, Number(String(r.name).slice(5))),
        ),
      ).toEqual([]);
      const root = langsmithRuns.get(langsmithRunId(runId, startMs))!;
      expect(root.outputs).toMatchObject({ completed: true, steps: STEPS });
    }
    // MLflow: one run (the replay found it), one point per step and metric.
    {
      const client = new MlflowClient({ trackingUri: mlflow.url });
      const experimentId = (await client.getExperimentByName('rlm-chaos'))!.experiment_id;
      const found = await client.findRunsByTag(experimentId, 'run_id', runId);
      expect(found).toHaveLength(1);
      const mlflowRun = found[0]!;
      expect(mlflowRun.info.status).toBe('FINISHED');
      const latest = Object.fromEntries(
        (mlflowRun.data.metrics ?? []).map((m) => [m.key, m.value]),
      );
      expect(latest).toMatchObject({ steps: STEPS, completed: 1 });
      for (const key of ['step_reward', 'cumulative_reward']) {
        const points = await mlflowMetricHistory(mlflow.url, mlflowRun.info.run_id, key);
        const counts = new Map<number, number>();
        for (const p of points) counts.set(p.step, (counts.get(p.step) ?? 0) + 1);
        const repeated = [...counts].filter(([, n]) => n > 1).map(([s]) => s);
        expect(repeated.length, `${key}: steps with more than one point`).toBe(0);
        expect(
          [...counts.keys()].sort((a, b) => a - b),
          key,
        ).toEqual(steps);
        if (key === 'step_reward')
          for (const p of points) expect(p.value).toBe(expectedReward(p.step));
        else expect(points.find((p) => p.step === STEPS)!.value).toBeCloseTo(cumulative, 6);
      }
    }
  });
});
