/**
 * Issue 11's all-sinks benchmark, run by bench/run.mjs: all six sinks on at once — jsonl to
 * local files; logfire, langfuse and langsmith against the local receivers of
 * bench/receivers.mjs (a child process); mlflow against a real MLflow tracking server and
 * the otel sink against a real Arize Phoenix when the bench can start them (else local
 * stand-ins, said in the output).
 *
 * 1. Caller-blocked `onStep` p50/p99, and steps/s delivered to every sink — sustained (the
 *    rate at which steps arrive at every backend once the start-up is over) and from a cold
 *    start (the time from the first step until every sink exported everything, flush
 *    included) — checked against each sink's own export counters and the receivers' counts,
 *    with zero drops: our side of the pipeline, every remote sink against the local receivers. Then the real backends (MLflow,
 *    Phoenix) paced at {@link REAL_RATE} steps/s, a rate Phoenix sustains here (it answers
 *    "Server is at capacity" from ~2,000 spans/s on this machine): every step must arrive.
 * 2. Overhead on a simulated agent whose steps each burn 1 ms (and 10 ms) of CPU and then
 *    await (as an agent awaits its model): no observability, the default config (jsonl) and
 *    all six sinks, interleaved in rounds, as ratios to the loop without observability; each
 *    run in a fresh process after an untimed warm-up (the best of the rounds per mode).
 * 3. Memory: RSS growth over 100,000 steps with every remote backend down (closed ports, and
 *    a backend that accepts connections but never answers), after a GC of every thread's
 *    heap (the worker's through the inspector protocol), in a child process run with
 *    --expose-gc; drops counted.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { Session } from 'node:inspector';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createWorkerSinks, RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';
import { LangfuseSink } from '@rlm/sink-langfuse';
import { LangSmithSink } from '@rlm/sink-langsmith';
import { LogfireSink } from '@rlm/sink-logfire';
import { MlflowSink } from '@rlm/sink-mlflow';
import { OpenTelemetrySink } from '@rlm/sink-otel';
import { stepsArrived } from './receivers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const LANGFUSE_KEYS = { publicKey: 'pk-lf-bench', secretKey: 'sk-lf-bench' };
const LANGSMITH_KEY = 'lsv2_bench_key';
const LOGFIRE_TOKEN = 'pylf_v1_us_bench';
const PROJECT = 'rlm-bench';
const yieldLoop = () => new Promise((resolve) => setImmediate(resolve));
/** Untimed steps before an overhead run, in its process (enough for the JIT's top tier). */
const AGENT_WARM_UP_STEPS = Number(process.env.RLM_BENCH_WARM_UP ?? 5000);
/** Quiet time between the warm-up and the timed run, for every mode alike. */
const AGENT_SETTLE_MS = Number(process.env.RLM_BENCH_SETTLE_MS ?? 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The sizes: the issue's for the full run, small ones for `--quick` (CI, < 60 s). */
export function allSinksSizes(quick) {
  return quick
    ? {
        steps: 3_000,
        realSteps: 2_000,
        overheadSteps1: 500,
        overheadSteps10: 60,
        rounds: 1,
        memorySteps: 5_000,
      }
    : {
        steps: 20_000,
        realSteps: 10_000,
        overheadSteps1: 3_000,
        overheadSteps10: 400,
        // Five interleaved rounds: the goals are 1% and 5% of the loop, and the same code
        // measured +4.7% and +6.0% (1 ms steps, worker), +1.1% and +0.3% (10 ms) in two
        // consecutive full runs with two rounds; the best of five is steadier.
        rounds: 5,
        memorySteps: 100_000,
      };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A loopback port nothing listens on. */
async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `command` if it exists: from the env var, else the setup script's default path. */
function backendCommand(envVar, name, version) {
  const candidates = [
    process.env[envVar],
    path.join(os.homedir(), '.cache', 'rlm-obs', `${name}-${version}`, 'bin', name),
  ];
  return candidates.find((c) => c && fs.existsSync(c));
}

async function waitUntil(what, log, url, deadlineMs, child) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${what} exited (${child.exitCode}):\n${log().slice(-1500)}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline)
      throw new Error(`${what} did not start in time:\n${log().slice(-1500)}`);
    await sleep(300);
  }
}

/** CPU seconds used so far by every process of a process group (Linux /proc; 0 elsewhere). */
function groupCpuSeconds(pgid) {
  let ticks = 0;
  try {
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // gone
      }
    }
  } catch {
    return 0;
  }
  return ticks / 100;
}

/**
 * Waits until the real backends (Python processes sharing this machine's 2 cores) have
 * finished digesting what the previous measurement sent: under 5% CPU over half a second.
 */
async function waitIdle(ctx) {
  const groups = ctx.idleGroups.filter(Boolean);
  if (groups.length === 0) return;
  const deadline = Date.now() + 120_000;
  let last = groups.reduce((n, g) => n + groupCpuSeconds(g), 0);
  while (Date.now() < deadline) {
    await sleep(500);
    const now = groups.reduce((n, g) => n + groupCpuSeconds(g), 0);
    if (now - last < 0.025) return;
    last = now;
  }
}

function stopGroup(child) {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      resolve();
    }, 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
  });
}

/** A real MLflow tracking server (sqlite store in a temp dir), as packages/sink-mlflow/test does. */
async function startMlflow(command, tmpRoot) {
  const port = await closedPort();
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'mlflow-'));
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    command,
    [
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--backend-store-uri',
      `sqlite:///${path.join(dir, 'mlflow.db')}`,
      '--artifacts-destination',
      path.join(dir, 'artifacts'),
      '--workers',
      '1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  await waitUntil('mlflow', () => log, `${url}/health`, 150_000, child);
  return { url, pgid: child.pid, stop: () => stopGroup(child) };
}

/** A real Arize Phoenix (its data in a temp dir), as packages/sink-otel/test/phoenix.ts does. */
export async function startPhoenix(command, tmpRoot) {
  const port = await closedPort();
  const grpcPort = await closedPort();
  const workdir = fs.mkdtempSync(path.join(tmpRoot, 'phoenix-'));
  const child = spawn(command, ['serve'], {
    env: {
      ...process.env,
      PHOENIX_HOST: '127.0.0.1',
      PHOENIX_PORT: String(port),
      PHOENIX_GRPC_PORT: String(grpcPort),
      PHOENIX_WORKING_DIR: workdir,
      PHOENIX_TELEMETRY_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const httpUrl = `http://127.0.0.1:${port}`;
  await waitUntil('phoenix', () => log, `${httpUrl}/v1/projects`, 150_000, child);
  return {
    httpUrl,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    pgid: child.pid,
    stop: () => stopGroup(child),
  };
}

/** bench/receivers.mjs in a child process: its urls and a way to read its counts. */
export async function startReceiverProcess() {
  const child = spawn(process.execPath, [path.join(here, 'receivers.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // The receivers stand in for backends on other machines: on this 2-core machine they take
  // CPU only when the agent and the sinks leave some (otherwise the bench would charge the
  // backends' own work to the sinks).
  try {
    os.setPriority(child.pid, 19);
  } catch {
    // not permitted: they compete at normal priority
  }
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`receivers exited (${code})`)));
  });
  const { urls, control } = JSON.parse(line);
  return {
    urls,
    /** The counts; with `stepsAtLeast`, once that many steps arrived everywhere (≤ 10 s). */
    counts: async ({ stepsAtLeast } = {}) =>
      (
        await fetch(
          stepsAtLeast === undefined
            ? `${control}/counts`
            : `${control}/counts?stepsAtLeast=${stepsAtLeast}&timeoutMs=10000`,
        )
      ).json(),
    reset: async () => {
      await fetch(`${control}/reset`, { method: 'POST' });
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.stdin.end();
      }),
  };
}

/**
 * The six sinks. `targets`: `{ otel: {endpoint, protocol, metrics, phoenix}, logfire,
 * langfuse, langsmith, mlflow }` base URLs. Resolves once every sink's setup check is done.
 */
export async function createSixSinks(targets, dir, tag, worker = false) {
  const jsonl = createJsonlSink({ dir });
  if (worker) {
    // The recommended config for all six (`worker: true`): the five remote sinks in the sink
    // worker thread, created there from the same options; the local files stay here. A
    // number: that many worker threads (`worker: { threads }`).
    const remote = await createWorkerSinks(
      [
        {
          use: '@rlm/sink-otel',
          options: {
            endpoint: targets.otel.endpoint,
            protocol: targets.otel.protocol,
            metricsEnabled: targets.otel.metrics,
            resourceAttributes: { 'openinference.project.name': `${PROJECT}-${tag}` },
          },
        },
        {
          use: '@rlm/sink-logfire',
          options: { token: LOGFIRE_TOKEN, baseUrl: targets.logfire, projectName: PROJECT },
        },
        { use: '@rlm/sink-langfuse', options: { ...LANGFUSE_KEYS, baseUrl: targets.langfuse } },
        {
          use: '@rlm/sink-langsmith',
          options: { apiKey: LANGSMITH_KEY, apiUrl: targets.langsmith, projectName: PROJECT },
        },
        {
          use: '@rlm/sink-mlflow',
          options: { trackingUri: targets.mlflow, experiment: `${PROJECT}-${tag}` },
        },
      ],
      { configDir: here, logger: { warn() {} }, threads: worker === true ? 1 : worker },
    );
    const [otel, logfire, langfuse, langsmith, mlflow] = remote;
    const sinks = { jsonl, otel, logfire, langfuse, langsmith, mlflow };
    Object.defineProperty(sinks, 'inWorker', { value: true, enumerable: false });
    Object.defineProperty(sinks, 'experiment', { value: `${PROJECT}-${tag}`, enumerable: false });
    return sinks;
  }
  const otel = new OpenTelemetrySink({
    endpoint: targets.otel.endpoint,
    protocol: targets.otel.protocol,
    metricsEnabled: targets.otel.metrics,
    resourceAttributes: { 'openinference.project.name': `${PROJECT}-${tag}` },
  });
  const logfire = new LogfireSink({
    token: LOGFIRE_TOKEN,
    baseUrl: targets.logfire,
    projectName: PROJECT,
  });
  const langfuse = new LangfuseSink({ ...LANGFUSE_KEYS, baseUrl: targets.langfuse });
  const langsmith = new LangSmithSink({
    apiKey: LANGSMITH_KEY,
    apiUrl: targets.langsmith,
    projectName: PROJECT,
  });
  const mlflow = new MlflowSink({ trackingUri: targets.mlflow, experiment: `${PROJECT}-${tag}` });
  await Promise.all([langfuse.ready, langsmith.ready, mlflow.ready]);
  return { jsonl, otel, logfire, langfuse, langsmith, mlflow };
}

/** What each sink says it exported, failed and dropped (its own counters). */
function sinkExports(sinks) {
  if (sinks.inWorker) {
    // Through the worker only status() is reachable: the OTel sink's span counters, and for
    // every sink the worker coordinator's counters.
    const counters = (s) => {
      const w = s.status().worker ?? {};
      return { delivered: w.delivered, failed: w.failed, dropped: w.dropped, pending: w.pending };
    };
    const otel = sinks.otel.status();
    return {
      otel: {
        ended: otel.spans_ended,
        exported: otel.spans_exported,
        failed: otel.spans_failed,
        dropped: otel.spans_dropped,
        worker: counters(sinks.otel),
      },
      logfire: { worker: counters(sinks.logfire) },
      langfuse: { worker: counters(sinks.langfuse) },
      langsmith: { worker: counters(sinks.langsmith) },
      mlflow: { worker: counters(sinks.mlflow) },
    };
  }
  const otel = sinks.otel.status();
  const logfire = sinks.logfire.stats();
  const langfuse = sinks.langfuse.stats();
  const langsmith = sinks.langsmith.stats();
  const mlflow = sinks.mlflow.stats();
  const spans = (s) => ({
    ended: s.spans_ended,
    exported: s.spans_exported,
    failed: s.spans_failed,
    dropped: s.spans_dropped,
  });
  return {
    otel: spans(otel),
    logfire: spans(logfire),
    langfuse: {
      ...spans(langfuse),
      scoresSent: langfuse.scores_sent,
      scoreErrors: langfuse.score_errors,
    },
    langsmith: { requests: langsmith.requests, failedRequests: langsmith.failed_requests },
    mlflow: {
      operations: mlflow.operations,
      failed: mlflow.failed,
      dropped: mlflow.dropped,
      queued: mlflow.queued,
    },
  };
}

/** Every step reached every sink's backend, nothing failed or was dropped anywhere. */
async function verifyDelivered(ctx, sinks, obs, runId, steps, dir, report) {
  const problems = [];
  for (const s of report.sinks)
    if (!s.ok) problems.push(`${s.name}: flush not ok (${s.error ?? 'timed out'})`);
  for (const s of obs.status()) {
    const c = s.counters;
    if (c.dropped || c.failed || c.pending)
      problems.push(
        `${s.name}: coordinator dropped ${c.dropped}, failed ${c.failed}, pending ${c.pending}`,
      );
  }
  const lines =
    fs.readFileSync(path.join(dir, 'steps', `${runId}.jsonl`), 'utf8').split('\n').length - 1;
  if (lines !== steps) problems.push(`jsonl: ${lines} lines on disk, expected ${steps}`);
  const ex = sinkExports(sinks);
  if (sinks.inWorker) {
    for (const [name, e] of Object.entries(ex)) {
      const w = e.worker;
      if (w.failed || w.dropped || w.pending)
        problems.push(
          `${name} (worker): failed ${w.failed}, dropped ${w.dropped}, pending ${w.pending}`,
        );
    }
    const o = ex.otel;
    if (o.exported !== o.ended || o.failed || o.dropped)
      problems.push(
        `otel: ${o.exported} of ${o.ended} spans exported, ${o.failed} failed, ${o.dropped} dropped`,
      );
  } else
    for (const name of ['otel', 'logfire', 'langfuse']) {
      const s = ex[name];
      if (s.exported !== s.ended || s.failed || s.dropped)
        problems.push(
          `${name}: ${s.exported} of ${s.ended} spans exported, ${s.failed} failed, ${s.dropped} dropped`,
        );
    }
  if (ex.langsmith.failedRequests)
    problems.push(`langsmith: ${ex.langsmith.failedRequests} failed requests`);
  if (!sinks.inWorker && (ex.mlflow.failed || ex.mlflow.dropped || ex.mlflow.queued))
    problems.push(
      `mlflow: ${ex.mlflow.failed} failed, ${ex.mlflow.dropped} dropped, ${ex.mlflow.queued} queued`,
    );
  // What the backends got: the step spans/runs/metrics of this pass, counted on arrival.
  const counts = await ctx.receivers.counts();
  const arrived = {
    logfire: counts.logfire.stepSpans,
    langfuse: counts.langfuse.stepSpans,
    langsmith: counts.langsmith.stepRuns,
  };
  if (!ctx.phoenix) arrived.otel = counts.otlp.stepSpans;
  else {
    // Phoenix accepted (OTLP success) these spans: the exported ones minus the run's own span.
    arrived.otel = ex.otel.exported - (ex.otel.ended - steps);
  }
  if (ctx.mlflow)
    arrived.mlflow = await mlflowStepMetrics(
      ctx.mlflow.url,
      sinks.inWorker
        ? await mlflowRunIdByTag(ctx.mlflow.url, sinks.experiment, runId)
        : sinks.mlflow.mlflowRunId(runId),
    );
  else arrived.mlflow = counts.mlflow.stepMetrics;
  for (const [name, n] of Object.entries(arrived))
    if (n !== steps) problems.push(`${name}: ${n} steps arrived at the backend, expected ${steps}`);
  return { problems, exports: ex, arrived, jsonlLines: lines };
}

/** The MLflow run of an RLM run (its `run_id` tag), for sinks in the worker thread. */
async function mlflowRunIdByTag(url, experimentName, runId) {
  const experiment = await (
    await fetch(
      `${url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=${encodeURIComponent(experimentName)}`,
    )
  ).json();
  const found = await (
    await fetch(`${url}/api/2.0/mlflow/runs/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        experiment_ids: [experiment.experiment?.experiment_id],
        filter: `tags.run_id = '${runId}'`,
        max_results: 1,
      }),
    })
  ).json();
  return found.runs?.[0]?.info?.run_id;
}

/** The number of `step_reward` points MLflow stored for a run (paged get-history). */
async function mlflowStepMetrics(url, runId) {
  if (!runId) return 0;
  let total = 0;
  let token = '';
  for (;;) {
    const response = await fetch(
      `${url}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=step_reward&max_results=25000${token ? `&page_token=${encodeURIComponent(token)}` : ''}`,
    );
    const body = await response.json();
    total += body.metrics?.length ?? 0;
    if (!body.next_page_token) return total;
    token = body.next_page_token;
  }
}

/** Steps a second of the delivery pass to the real backends. */
const REAL_RATE = 500;

/** The delivery passes yield to the event loop every this many steps (an agent awaits). */
const DELIVERY_CHUNK = 100;
/**
 * Steps that may be on their way to the slowest local backend in an unpaced pass (below every
 * sink's own bound: LangSmith's 16 MiB hold ~6,700 step runs), checked every WINDOW_CHECK.
 */
const DELIVERY_WINDOW = 2_000;
const WINDOW_CHECK = 500;

/** Waits until every local receiver has at least `steps` steps of this pass; the count then. */
async function untilArrived(ctx, steps) {
  for (;;) {
    // One request that the receivers answer once the steps arrived (or after 10 s).
    const arrived = stepsArrived(await ctx.receivers.counts({ stepsAtLeast: steps }));
    if (arrived >= steps) return arrived;
  }
}

/**
 * The sustained delivery rate of a closed-loop pass: the least-squares slope of the steps
 * arrived at every backend over time, from the first check at which `warm` steps had arrived
 * to the last check before the final flush — without the start-up (a fresh worker compiles
 * the SDKs' code, sockets open, caches fill: the first few thousand steps go at about half
 * the rate) and without the final flush's drain. Both ends are arrival counts, so the steps
 * still in the sinks' export batches at either end do not bias it. Undefined with fewer than
 * three checks past the warm-up (quick runs).
 */
function sustainedRate(arrivals, warm) {
  const points = arrivals.filter(([, arrived]) => arrived >= warm);
  if (points.length < 3) return undefined;
  const n = points.length;
  const mt = points.reduce((sum, [t]) => sum + t, 0) / n;
  const ma = points.reduce((sum, [, a]) => sum + a, 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, a] of points) {
    num += (t - mt) * (a - ma);
    den += (t - mt) ** 2;
  }
  return {
    fromSteps: points[0][1],
    toSteps: points[n - 1][1],
    seconds: (points[n - 1][0] - points[0][0]) / 1000,
    stepsPerSec: (num / den) * 1000,
  };
}

/** A delivery pass's rates, for the progress log. */
function deliveredText(pass) {
  const steady = pass.steady ? Math.round(pass.steady.stepsPerSec) : '?';
  return `${Math.round(pass.stepsPerSec)} steps/s delivered in ${pass.seconds.toFixed(2)} s from a cold start; sustained ${steady} steps/s`;
}

/**
 * One pass of `steps` steps through all six sinks, yielding to the event loop every
 * {@link DELIVERY_CHUNK} steps (and, with `rate`, pacing the steps to that many a second).
 * `timed`: per-call caller-blocked times.
 * Returns the seconds from the first step until everything was exported (flush included)
 * and, unpaced, the sustained rate after the first quarter of the steps ({@link sustainedRate}).
 */
async function sixSinkPass(ctx, makeEvent, steps, timed, tag, rate, worker = false) {
  const dir = fs.mkdtempSync(path.join(ctx.tmpRoot, `six-${tag}-`));
  await ctx.receivers.reset();
  const sinks = await createSixSinks(ctx.targets, dir, tag, worker);
  const obs = RLMObservability.withSinks(Object.values(sinks), { flushOnExit: false });
  const runId = `bench-six-${tag}`;
  const events = Array.from({ length: 1000 }, (_, i) => makeEvent(i));
  const perCall = timed ? new Float64Array(steps) : undefined;
  let cumulative = 0;
  // (time, steps arrived everywhere) at each window check, for the sustained rate.
  const arrivals = [];
  await waitIdle(ctx);
  const start = performance.now();
  obs.onRunStart(runId, { task: 'benchmark', environment: 'bench', params: { max_steps: steps } });
  for (let i = 0; i < steps; i++) {
    cumulative += 0.5;
    const event = events[i % 1000];
    event.step = i;
    if (perCall) {
      const t0 = process.hrtime.bigint();
      obs.onStep(runId, { event, cumulativeReward: cumulative });
      perCall[i] = Number(process.hrtime.bigint() - t0);
    } else obs.onStep(runId, { event, cumulativeReward: cumulative });
    if (i % DELIVERY_CHUNK === DELIVERY_CHUNK - 1) {
      const wait = rate ? start + ((i + 1) / rate) * 1000 - performance.now() : 0;
      await (wait > 0 ? sleep(wait) : yieldLoop());
      // Unpaced: a closed loop. No more than DELIVERY_WINDOW steps may be on their way to the
      // slowest backend, so the figure is what the pipeline sustains, not how fast a caller
      // can fill bounded queues (past them events are dropped by design).
      if (!rate && (i + 1) % WINDOW_CHECK === 0) {
        const arrived = await untilArrived(ctx, i + 1 - DELIVERY_WINDOW);
        arrivals.push([performance.now(), arrived]);
      }
    }
  }
  obs.onRunEnd(runId, { result: { completed: true, steps, totalReward: cumulative } });
  const report = await obs.flush({ timeoutMs: 300_000 });
  const end = performance.now();
  const seconds = (end - start) / 1000;
  const check = await verifyDelivered(ctx, sinks, obs, runId, steps, dir, report);
  await obs.shutdown({ timeoutMs: 30_000 });
  fs.rmSync(dir, { recursive: true, force: true });
  if (perCall) perCall.sort();
  return {
    seconds,
    stepsPerSec: steps / seconds,
    steady: rate ? undefined : sustainedRate(arrivals, Math.floor(steps / 4)),
    p50: perCall ? percentile(perCall, 50) : undefined,
    p99: perCall ? percentile(perCall, 99) : undefined,
    ...check,
  };
}

/** Burns `ms` of CPU. */
function burn(ms) {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x++;
  return x;
}

/**
 * A simulated agent: `steps` steps of `stepMs` CPU each, then an await; `mode`
 * none|default|all|worker. Runs in a fresh process (see {@link agentChild}): first an untimed
 * warm-up of {@link AGENT_WARM_UP_STEPS} steps with the same sinks (the JIT, connections,
 * buffers) and {@link AGENT_SETTLE_MS} of quiet.
 */
async function agentRun(ctx, makeEvent, mode, steps, stepMs, tag) {
  let obs;
  let dir;
  if (mode !== 'none') {
    dir = fs.mkdtempSync(path.join(ctx.tmpRoot, `agent-${tag}-`));
    const sinks =
      mode === 'default'
        ? [createJsonlSink({ dir })]
        : Object.values(await createSixSinks(ctx.targets, dir, tag, mode === 'worker'));
    obs = RLMObservability.withSinks(sinks, { flushOnExit: false });
  }
  const events = Array.from({ length: 100 }, (_, i) => makeEvent(i));
  const runId = `bench-agent-${tag}`;
  const warmId = `${runId}-warm-up`;
  obs?.onRunStart(warmId, { task: 'agent', environment: 'bench', params: {} });
  for (let i = 0; i < AGENT_WARM_UP_STEPS; i++) {
    obs?.onStep(warmId, { event: events[i % 100], cumulativeReward: i });
    await yieldLoop();
  }
  obs?.onRunEnd(warmId, { result: { completed: true } });
  await obs?.flush({ timeoutMs: 60_000 });
  // The burst's garbage collected and its last exports answered before the clock starts.
  await sleep(AGENT_SETTLE_MS);
  const start = performance.now();
  obs?.onRunStart(runId, { task: 'agent', environment: 'bench', params: { max_steps: steps } });
  let cumulative = 0;
  for (let i = 0; i < steps; i++) {
    burn(stepMs);
    cumulative += 0.5;
    const event = events[i % 100];
    event.step = i;
    obs?.onStep(runId, { event, cumulativeReward: cumulative });
    await yieldLoop();
  }
  obs?.onRunEnd(runId, { result: { completed: true, steps, totalReward: cumulative } });
  const loopSeconds = (performance.now() - start) / 1000;
  const report = await obs?.shutdown({ timeoutMs: 120_000 });
  const seconds = (performance.now() - start) / 1000;
  const dropped = obs
    ? obs.status().reduce((n, s) => n + s.counters.dropped + s.counters.failed, 0)
    : 0;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  return { loopSeconds, seconds, ok: report?.ok ?? true, dropped };
}

/** Interleaved rounds of none/default/all; the best of the rounds per mode. */
export async function overhead(ctx, stepMs, steps, rounds, log) {
  const modes = ['none', 'default', 'all', 'worker'];
  const best = Object.fromEntries(modes.map((m) => [m, Infinity]));
  const bestLoop = Object.fromEntries(modes.map((m) => [m, Infinity]));
  const problems = [];
  for (let r = 0; r < rounds; r++) {
    for (const mode of modes) {
      await waitIdle(ctx);
      const run = await agentChild(ctx, mode, steps, stepMs, `${stepMs}ms-${mode}-${r}`);
      if (!run.ok || run.dropped)
        problems.push(`${mode} round ${r}: flush ok ${run.ok}, ${run.dropped} dropped/failed`);
      best[mode] = Math.min(best[mode], run.seconds);
      bestLoop[mode] = Math.min(bestLoop[mode], run.loopSeconds);
      log(
        `  ${stepMs} ms steps, ${mode.padEnd(7)} round ${r + 1}: ${run.seconds.toFixed(3)} s (loop ${run.loopSeconds.toFixed(3)} s)`,
      );
    }
  }
  return {
    stepMs,
    steps,
    rounds,
    seconds: best,
    loopSeconds: bestLoop,
    defaultOverhead: best.default / best.none - 1,
    allOverhead: best.all / best.none - 1,
    workerOverhead: best.worker / best.none - 1,
    problems,
  };
}

/**
 * Runs this file in a child process (`node [flags] all-sinks.mjs <mode> <json>`) and resolves
 * with the JSON on the last line of its output.
 */
function childRun(flags, mode, args, label) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...flags, fileURLToPath(import.meta.url), mode, JSON.stringify(args)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1);
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`${label} exited ${code}: ${out.slice(-1000)}\n${err}`));
      }
    });
  });
}

/**
 * One overhead run in a fresh process. In this process the runs of one mode came after the
 * others' in one heap, with what six sinks' SDKs, exporters and worker threads left in it
 * (the baseline's rounds varied by 2%, more than the overhead measured); in a child every mode
 * starts from the same state: the same warm-up, the same modules loaded (this file's: the six
 * sinks' packages, as an application's own modules would be — a child that loads only what
 * its mode uses runs the baseline in a near-empty heap, where the agent's own garbage is
 * cheaper to collect than in any real application; the ratios grew by 0.7–0.8 point so).
 */
function agentChild(ctx, mode, steps, stepMs, tag) {
  const args = { targets: ctx.targets, tmpRoot: ctx.tmpRoot, mode, steps, stepMs, tag };
  return childRun([], '--agent-child', args, `agent child (${tag})`);
}

/** In the child: one {@link agentRun}, its figures as the last line of stdout. */
async function agentChildMain({ targets, tmpRoot, mode, steps, stepMs, tag }) {
  const { makeEvent } = await import('./event.mjs');
  const result = await agentRun({ targets, tmpRoot }, makeEvent, mode, steps, stepMs, tag);
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

/** The memory measurement in a child process with --expose-gc. */
function memoryChild(targets, steps, label, worker = false) {
  const args = { targets, steps, label, worker };
  return childRun(['--expose-gc'], '--memory-child', args, `memory child (${label})`);
}

/**
 * Collects the garbage of this process's worker threads (the sink worker): `global.gc()`
 * only reaches this thread's heap. Through the inspector protocol — `NodeWorker` to reach
 * each worker, `HeapProfiler.collectGarbage` there — attached once, before the baseline.
 */
async function workerGarbageCollector() {
  const session = new Session();
  session.connect();
  const post = (method, params = {}) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  const workers = [];
  const waiting = new Map();
  session.on('NodeWorker.attachedToWorker', (m) => workers.push(m.params.sessionId));
  session.on('NodeWorker.receivedMessageFromWorker', (m) => {
    const reply = JSON.parse(m.params.message);
    waiting.get(`${m.params.sessionId}:${reply.id}`)?.(reply);
  });
  await post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  for (let i = 0; i < 100 && workers.length === 0; i++) await sleep(10);
  if (workers.length === 0) throw new Error('no worker thread to attach to');
  let id = 0;
  return () =>
    Promise.all(
      workers.map((sessionId) => {
        const key = `${sessionId}:${++id}`;
        const message = JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' });
        return new Promise((resolve, reject) => {
          // The sink worker is unref'ed between requests: this timer keeps the loop alive.
          const timer = setTimeout(() => reject(new Error('the worker did not collect')), 10_000);
          waiting.set(key, (reply) => {
            clearTimeout(timer);
            resolve(reply);
          });
          post('NodeWorker.sendMessageToWorker', { sessionId, message }).catch(reject);
        });
      }),
    );
}

/** In the child: every remote backend down; RSS before and after `steps` steps, after a GC. */
async function memoryChildMain({ targets, steps, label, worker = false }) {
  const { makeEvent } = await import('./event.mjs');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-bench-mem-'));
  const sinks = await createSixSinks(targets, tmp, label, worker);
  const obs = RLMObservability.withSinks(Object.values(sinks), {
    flushOnExit: false,
    logger: false,
  });
  const workerGc = worker ? await workerGarbageCollector() : undefined;
  const runId = `bench-mem-${label}`;
  const events = Array.from({ length: 1000 }, (_, i) => makeEvent(i));
  obs.onRunStart(runId, { task: 'memory', environment: 'bench', params: { max_steps: steps } });
  let cumulative = 0;
  const step = (i) => {
    cumulative += 0.5;
    const event = events[i % 1000];
    event.step = i;
    obs.onStep(runId, { event, cumulativeReward: cumulative });
  };
  // Warm up (JIT, connections refused once, buffers allocated), then the baseline.
  for (let i = 0; i < 1000; i++) {
    step(i);
    await yieldLoop();
  }
  const gc = async () => {
    for (let i = 0; i < 3; i++) {
      global.gc();
      await workerGc?.();
      await sleep(50);
    }
  };
  await gc();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  const start = performance.now();
  for (let i = 1000; i < 1000 + steps; i++) {
    step(i);
    await yieldLoop();
    if (i % 5000 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const loopSeconds = (performance.now() - start) / 1000;
  await gc();
  const after = process.memoryUsage();
  peakRss = Math.max(peakRss, after.rss);
  const coordinator = obs.status().map((s) => ({
    name: s.name,
    delivered: s.counters.delivered,
    dropped: s.counters.dropped,
    failed: s.counters.failed,
    pending: s.counters.pending,
  }));
  const ex = sinkExports(sinks);
  const langsmith = worker ? sinks.langsmith.status() : sinks.langsmith.stats();
  const report = await obs.shutdown({ timeoutMs: 5_000 });
  const afterShutdown = sinkExports(sinks);
  fs.rmSync(tmp, { recursive: true, force: true });
  // Drops: what the coordinator dropped, and what the sinks could not export (the backends
  // are down): spans dropped or failed, MLflow operations dropped or failed, LangSmith's
  // failed uploads.
  const result = {
    label,
    worker,
    steps,
    loopSeconds,
    rssBeforeMB: before.rss / 2 ** 20,
    rssAfterMB: after.rss / 2 ** 20,
    rssGrowthMB: (after.rss - before.rss) / 2 ** 20,
    peakRssGrowthMB: (peakRss - before.rss) / 2 ** 20,
    heapGrowthMB: (after.heapUsed - before.heapUsed) / 2 ** 20,
    coordinator,
    sinksAtEnd: ex,
    sinksAfterShutdown: afterShutdown,
    langsmithLastError: langsmith.last_error,
    shutdownMs: report.durationMs,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Whatever the down backends still hold (sockets, retry timers) must not keep us waiting.
  process.exit(0);
}

/** A server that accepts connections and never answers. */
function hangingServer() {
  const sockets = new Set();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(r);
          }),
      }),
    ),
  );
}

/** The whole all-sinks benchmark. `log` prints progress. */
export async function benchAllSinks({ quick, tmpRoot, makeEvent, log = console.log }) {
  const sizes = allSinksSizes(quick);
  const receivers = await startReceiverProcess();
  // --quick (CI, < 60 s) uses the local stand-ins: starting MLflow and Phoenix alone takes
  // about that long; RLM_BENCH_REAL_BACKENDS=1 starts them in a quick run too.
  const real = !quick || process.env.RLM_BENCH_REAL_BACKENDS === '1';
  const mlflowCmd = real
    ? backendCommand('RLM_OBS_MLFLOW', 'mlflow', process.env.MLFLOW_VERSION ?? '3.17.2')
    : undefined;
  const phoenixCmd = real
    ? backendCommand('RLM_OBS_PHOENIX', 'phoenix', process.env.PHOENIX_VERSION ?? '20.26.1')
    : undefined;
  log(
    `\nall six sinks: starting ${[mlflowCmd && 'MLflow', phoenixCmd && 'Phoenix'].filter(Boolean).join(' and ') || 'no real backend'}…`,
  );
  const [mlflow, phoenix] = await Promise.all([
    mlflowCmd
      ? startMlflow(mlflowCmd, tmpRoot).catch((e) => {
          log(`  MLflow did not start (${e.message.split('\n')[0]}): using the local stand-in`);
          return undefined;
        })
      : undefined,
    phoenixCmd
      ? startPhoenix(phoenixCmd, tmpRoot).catch((e) => {
          log(
            `  Phoenix did not start (${e.message.split('\n')[0]}): using the local OTLP receiver`,
          );
          return undefined;
        })
      : undefined,
  ]);
  const targets = {
    // Phoenix takes traces (no metrics) over the sink's default gRPC; the stand-in takes
    // http/protobuf traces and metrics.
    otel: phoenix
      ? { endpoint: phoenix.grpcUrl, protocol: 'grpc', metrics: false }
      : { endpoint: receivers.urls.otlp, protocol: 'http/protobuf', metrics: true },
    logfire: receivers.urls.logfire,
    langfuse: receivers.urls.langfuse,
    langsmith: receivers.urls.langsmith,
    mlflow: mlflow ? mlflow.url : receivers.urls.mlflow,
  };
  const realBackends = {
    otel: phoenix
      ? `Arize Phoenix (real, ${path.basename(path.dirname(path.dirname(phoenixCmd)))}), OTLP gRPC, metrics off (Phoenix takes none)`
      : undefined,
    mlflow: mlflow
      ? `MLflow tracking server (real, ${path.basename(path.dirname(path.dirname(mlflowCmd)))}, sqlite)`
      : undefined,
  };
  const backends = {
    jsonl: 'local files',
    otel: phoenix
      ? `local OTLP http/protobuf receiver; the paced pass: ${realBackends.otel}`
      : phoenixCmd
        ? 'local OTLP http/protobuf receiver (Phoenix failed to start)'
        : real
          ? 'local OTLP http/protobuf receiver (no Phoenix installed: scripts/setup-phoenix.sh)'
          : 'local OTLP http/protobuf receiver (quick run: no Phoenix started)',
    logfire: 'local receiver (OTLP http/protobuf)',
    langfuse: 'local receiver (OTLP JSON + ingestion API)',
    langsmith: 'local receiver (/info, runs and /runs/batch)',
    mlflow: mlflow
      ? `local stand-in; the paced pass: ${realBackends.mlflow}`
      : mlflowCmd
        ? 'local stand-in (MLflow failed to start)'
        : real
          ? 'local stand-in (no MLflow installed: scripts/setup-mlflow.sh)'
          : 'local stand-in (quick run: no MLflow started)',
  };
  for (const [name, where] of Object.entries(backends)) log(`  ${name.padEnd(9)} → ${where}`);
  const idleGroups = [mlflow?.pgid, phoenix?.pgid];
  // Our side of the pipeline: every remote sink against the local receivers (another process).
  const localCtx = {
    tmpRoot,
    receivers,
    idleGroups,
    targets: {
      ...targets,
      otel: { endpoint: receivers.urls.otlp, protocol: 'http/protobuf', metrics: true },
      mlflow: receivers.urls.mlflow,
    },
  };
  const realCtx = { tmpRoot, receivers, idleGroups, targets, mlflow, phoenix };
  try {
    // 1. throughput (untimed pass first, as in run.mjs), then the caller-blocked times.
    log(`  delivery: ${sizes.steps} steps through all six sinks (local receivers)…`);
    const sustained = await sixSinkPass(localCtx, makeEvent, sizes.steps, false, 'sustained');
    log(`    ${deliveredText(sustained)}`);
    const timed = await sixSinkPass(localCtx, makeEvent, sizes.steps, true, 'timed');
    log(
      `    onStep p50 ${(timed.p50 / 1000).toFixed(2)} us, p99 ${(timed.p99 / 1000).toFixed(2)} us`,
    );
    // 1a. the same with the remote sinks in the worker thread (`worker: true`).
    log(`  delivery: ${sizes.steps} steps, the five remote sinks in the worker thread…`);
    const sustainedWorker = await sixSinkPass(
      localCtx,
      makeEvent,
      sizes.steps,
      false,
      'sustained-worker',
      undefined,
      true,
    );
    log(`    ${deliveredText(sustainedWorker)}`);
    const timedWorker = await sixSinkPass(
      localCtx,
      makeEvent,
      sizes.steps,
      true,
      'timed-worker',
      undefined,
      true,
    );
    log(
      `    onStep p50 ${(timedWorker.p50 / 1000).toFixed(2)} us, p99 ${(timedWorker.p99 / 1000).toFixed(2)} us`,
    );
    // 1a'. For information, not a goal: the same with two worker threads
    // (`worker: { threads: 2 }`, which costs another JavaScript heap).
    log(`  delivery: ${sizes.steps} steps, the five remote sinks in two worker threads…`);
    const sustainedWorker2 = await sixSinkPass(
      localCtx,
      makeEvent,
      sizes.steps,
      false,
      'sustained-worker2',
      undefined,
      2,
    );
    log(`    ${deliveredText(sustainedWorker2)}`);
    // 1b. the real backends, paced at a rate Phoenix sustains on this machine (it answers
    // "Server is at capacity" from ~2,000 spans/s here): everything must arrive.
    let real;
    let realWorker;
    if (mlflow || phoenix) {
      log(`  delivery to the real backends: ${sizes.realSteps} steps at ${REAL_RATE} steps/s…`);
      real = await sixSinkPass(realCtx, makeEvent, sizes.realSteps, false, 'real', REAL_RATE);
      log(
        `    ${Math.round(real.stepsPerSec)} steps/s delivered in ${real.seconds.toFixed(2)} s; ${real.problems.length ? real.problems.join('; ') : 'no drops'}`,
      );
      realWorker = await sixSinkPass(
        realCtx,
        makeEvent,
        sizes.realSteps,
        false,
        'real-worker',
        REAL_RATE,
        true,
      );
      log(
        `    worker thread: ${Math.round(realWorker.stepsPerSec)} steps/s delivered in ${realWorker.seconds.toFixed(2)} s; ${realWorker.problems.length ? realWorker.problems.join('; ') : 'no drops'}`,
      );
    }
    // 2. overhead on a simulated agent (the local receivers: on this 2-core machine the real
    // backends' own ingestion would take the agent's CPU, which a deployment does not share).
    const over1 = await overhead(localCtx, 1, sizes.overheadSteps1, sizes.rounds, log);
    const over10 = await overhead(localCtx, 10, sizes.overheadSteps10, sizes.rounds, log);
    // 3. memory with every remote backend down: closed ports, then hanging backends.
    const closed = {};
    for (const name of ['otel', 'logfire', 'langfuse', 'langsmith', 'mlflow'])
      closed[name] = `http://127.0.0.1:${await closedPort()}`;
    const downTargets = (url) => ({
      otel: { endpoint: url.otel, protocol: 'http/protobuf', metrics: true },
      logfire: url.logfire,
      langfuse: url.langfuse,
      langsmith: url.langsmith,
      mlflow: url.mlflow,
    });
    log(`  memory: ${sizes.memorySteps} steps, every remote backend refusing connections…`);
    const memRefused = await memoryChild(downTargets(closed), sizes.memorySteps, 'refused');
    log(`    RSS growth ${memRefused.rssGrowthMB.toFixed(1)} MB`);
    const hang = await hangingServer();
    log(
      `  memory: ${sizes.memorySteps} steps, every remote backend accepting and never answering…`,
    );
    const hangUrls = Object.fromEntries(Object.keys(closed).map((k) => [k, hang.url]));
    const memHanging = await memoryChild(
      downTargets(hangUrls),
      sizes.memorySteps,
      'hanging',
    ).finally(() => hang.close());
    log(`    RSS growth ${memHanging.rssGrowthMB.toFixed(1)} MB`);
    // The same with the remote sinks in the worker thread (its heap is in the same RSS, and
    // collected before each measurement too).
    log(`  memory, worker thread: ${sizes.memorySteps} steps, every remote backend refusing…`);
    const memRefusedWorker = await memoryChild(
      downTargets(closed),
      sizes.memorySteps,
      'refused',
      true,
    );
    log(`    RSS growth ${memRefusedWorker.rssGrowthMB.toFixed(1)} MB`);
    const hang2 = await hangingServer();
    log(`  memory, worker thread: ${sizes.memorySteps} steps, every remote backend hanging…`);
    const memHangingWorker = await memoryChild(
      downTargets(Object.fromEntries(Object.keys(closed).map((k) => [k, hang2.url]))),
      sizes.memorySteps,
      'hanging',
      true,
    ).finally(() => hang2.close());
    log(`    RSS growth ${memHangingWorker.rssGrowthMB.toFixed(1)} MB`);
    return {
      sizes,
      backends,
      sustained,
      timed,
      sustainedWorker,
      timedWorker,
      sustainedWorker2,
      real,
      realWorker,
      realRate: REAL_RATE,
      realBackends,
      overhead1ms: over1,
      overhead10ms: over10,
      memory: [memRefused, memHanging, memRefusedWorker, memHangingWorker],
    };
  } finally {
    await Promise.all([receivers.stop(), mlflow?.stop(), phoenix?.stop()]);
  }
}

if (process.argv[2] === '--memory-child') await memoryChildMain(JSON.parse(process.argv[3]));
if (process.argv[2] === '--agent-child') await agentChildMain(JSON.parse(process.argv[3]));
