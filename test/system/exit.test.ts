/**
 * Issue 11, "exit": 100 short CLI-style processes (1 run, 50 steps, no explicit flush), all six
 * sinks configured from the seed's environment variables, against local receivers and a real
 * MLflow tracking server. Every sink must receive every event of every process, and every
 * process must end by itself with exit code 0 and no error output.
 *
 * With six sinks in one process, one sink's open sockets or timers can keep the process alive
 * long enough for another sink's own timers to send its data. So each sink also runs alone in
 * a few processes: its events must get out through the coordinator's exit flush by themselves.
 * And 20 more processes run the five remote sinks in the sink worker thread (`createWorkerSinks`):
 * the exit flush must reach into the worker and the worker must not keep the process alive.
 *
 * The processes run test/system/fixtures/exit-run.mjs against the BUILT packages (`pnpm build`
 * first; they resolve from test/system/node_modules/@rlm/*).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlflowClient } from '@rlm/sink-mlflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GrpcReceiver,
  type HttpReceiver,
  type ReceivedSpan,
  startGrpcReceiver,
  startHttpReceiver,
} from '../../packages/otel-common/test/receivers.js';
import {
  type LangfuseReceiver,
  type LangfuseSpan,
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
import { groupBy, type ProcessResult, pool, runNode } from './exit-processes.js';

const PROCESSES = 100;
/** Processes with the remote sinks in the sink worker thread. */
const WORKER_PROCESSES = 20;
/** Processes per sink that run with that sink alone. */
const ALONE = 5;
const STEPS = 50;
const PARALLEL = 4;
/** The fixture's rewards: 0.5 on odd steps, 1 on even ones. */
const reward = (step: number) => (step % 2 === 0 ? 1 : 0.5);
const cumulative = (step: number) =>
  Array.from({ length: step }, (_, i) => reward(i + 1)).reduce((a, b) => a + b, 0);
const TOTAL_REWARD = cumulative(STEPS);
const STEP_NUMBERS = Array.from({ length: STEPS }, (_, i) => i + 1);
const STEP_NAMES = STEP_NUMBERS.map((n) => `step-${n}`).sort();

const fixture = fileURLToPath(new URL('./fixtures/exit-run.mjs', import.meta.url));
const systemDir = fileURLToPath(new URL('.', import.meta.url));

const command = mlflowCommand();
if (!command && process.env.RLM_OBS_REQUIRE_MLFLOW)
  throw new Error('MLflow is required here: run scripts/setup-mlflow.sh');

const EXPERIMENT = 'rlm-exit-test';
const LANGSMITH_PROJECT = 'rlm-exit-test';

type SinkKey = 'jsonl' | 'otel' | 'logfire' | 'langfuse' | 'langsmith' | 'mlflow';
const SINK_NAMES: Record<SinkKey, string> = {
  jsonl: 'local-jsonl',
  otel: 'opentelemetry',
  logfire: 'logfire',
  langfuse: 'langfuse',
  langsmith: 'langsmith',
  mlflow: 'mlflow',
};
const SINKS = (Object.keys(SINK_NAMES) as SinkKey[]).filter((k) => k !== 'mlflow' || command);

let otel: GrpcReceiver;
let logfire: HttpReceiver;
let langfuse: LangfuseReceiver;
let langsmith: LangSmithReceiver;
let mlflow: MlflowServer | undefined;
let base: string;

interface Job {
  runId: string;
  sinks: SinkKey[];
  worker?: boolean;
}
const allSix: Job[] = Array.from({ length: PROCESSES }, (_, i) => ({
  runId: `exit-${String(i).padStart(3, '0')}`,
  sinks: SINKS,
}));
const viaWorker: Job[] = Array.from({ length: WORKER_PROCESSES }, (_, i) => ({
  runId: `worker-${String(i).padStart(3, '0')}`,
  sinks: SINKS,
  worker: true,
}));
const viaWorkerIds = viaWorker.map((j) => j.runId).sort();
const alone: Job[] = SINKS.flatMap((sink) =>
  Array.from({ length: ALONE }, (_, i) => ({ runId: `alone-${sink}-${i}`, sinks: [sink] })),
);
const allSixIds = allSix.map((j) => j.runId).sort();
const aloneIds = (sink: SinkKey) =>
  alone
    .filter((j) => j.sinks[0] === sink)
    .map((j) => j.runId)
    .sort();
const results = new Map<string, ProcessResult>();

/** The environment of one process: only the sinks' own variables (nothing inherited). */
function childEnv(job: Job): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    EXIT_RUN_ID: job.runId,
    EXIT_RUN_PATH: path.join(base, 'artifacts', job.runId),
    EXIT_SINKS: job.sinks.join(','),
    ...(job.worker ? { EXIT_WORKER: '1' } : {}),
    // local-jsonl (on by default), all processes in one directory
    RLM_OBS_JSONL_DIR: path.join(base, 'jsonl'),
    // opentelemetry over gRPC (the seed's default protocol), with metrics
    DSPY_RLM_OTEL_ENABLED: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: otel.url,
    OTEL_SERVICE_NAME: 'rlm-exit-test',
    // logfire over OTLP http/protobuf
    DSPY_RLM_LOGFIRE_ENABLED: 'true',
    LOGFIRE_TOKEN: 'pylf_v1_us_exit-test-token',
    LOGFIRE_BASE_URL: logfire.url,
    LOGFIRE_PROJECT_NAME: 'rlm-exit-test',
    // langfuse: OTLP JSON spans and the ingestion API for scores
    DSPY_RLM_LANGFUSE_ENABLED: 'true',
    LANGFUSE_PUBLIC_KEY: langfuse.publicKey,
    LANGFUSE_SECRET_KEY: langfuse.secretKey,
    LANGFUSE_HOST: langfuse.url,
    // langsmith: multipart run uploads and feedback
    DSPY_RLM_LANGSMITH_ENABLED: 'true',
    LANGSMITH_API_KEY: langsmith.apiKey,
    LANGSMITH_ENDPOINT: langsmith.url,
    LANGSMITH_PROJECT: LANGSMITH_PROJECT,
  };
  if (mlflow) {
    env.DSPY_RLM_MLFLOW_ENABLED = 'true';
    env.MLFLOW_TRACKING_URI = mlflow.url;
    env.DSPY_RLM_MLFLOW_EXPERIMENT = EXPERIMENT;
  }
  return env;
}

beforeAll(async () => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-exit-')));
  [otel, logfire, langfuse, langsmith] = await Promise.all([
    startGrpcReceiver(),
    startHttpReceiver(),
    startLangfuseReceiver(),
    startLangSmithReceiver(),
  ]);
  if (command) {
    mlflow = await createMlflowServer(command);
    await mlflow.start();
  }
  const jobs = [...allSix, ...viaWorker, ...alone];
  for (const { runId } of jobs) {
    // A small run_path per run, uploaded to MLflow as the run's artifacts at the end.
    const dir = path.join(base, 'artifacts', runId);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'answer.txt'), `answer of ${runId}\n`);
  }
  await pool(jobs, PARALLEL, async (job) => {
    results.set(job.runId, await runNode(fixture, { env: childEnv(job), cwd: systemDir }));
  });
});

afterAll(async () => {
  await Promise.all([otel?.close(), logfire?.close(), langfuse?.close(), langsmith?.close()]);
  await mlflow?.stop();
  mlflow?.remove();
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

/** The process ended by itself, with code 0 and no error output, and its sinks were available. */
function expectCleanExit(job: Job): void {
  const r = results.get(job.runId);
  expect(r, job.runId).toBeDefined();
  expect({ code: r!.code, signal: r!.signal, killed: r!.killed, stderr: r!.stderr }).toEqual({
    code: 0,
    signal: null,
    killed: false,
    stderr: '',
  });
  const lines = r!.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const { sinks } = JSON.parse(lines[0]!) as {
    sinks: Array<{ name: string; enabled: boolean; available: boolean }>;
  };
  expect(sinks.filter((s) => s.enabled && s.available).map((s) => s.name)).toEqual(
    job.sinks.map((k) => SINK_NAMES[k]),
  );
}

/** A failure message naming the run and what its process wrote to stderr. */
function why(id: string): string {
  const stderr = results.get(id)?.stderr.trim();
  return stderr ? `${id} (its stderr: ${stderr.slice(0, 2000)})` : id;
}

/** Every span is a direct child of `root`, in its trace. */
function expectChildren(
  spans: Array<ReceivedSpan | LangfuseSpan>,
  root: ReceivedSpan | LangfuseSpan,
): void {
  const wrong = spans.filter((s) => s.traceId !== root.traceId || s.parentSpanId !== root.spanId);
  expect(wrong.map((s) => s.name)).toEqual([]);
}

function readLines(file: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** local-jsonl: the start line, 50 step lines, the end line and both scores of every run. */
function checkJsonl(ids: string[]): void {
  const dir = path.join(base, 'jsonl');
  const starts = groupBy(readLines(path.join(dir, 'starts.jsonl')), (l) => l.run_id as string);
  const ends = groupBy(readLines(path.join(dir, 'runs.jsonl')), (l) => l.run_id as string);
  const scores = groupBy(readLines(path.join(dir, 'scores.jsonl')), (l) => l.run_id as string);
  for (const id of ids) {
    expect(starts.get(id), why(id)).toHaveLength(1);
    expect(starts.get(id)![0]).toMatchObject({ environment: 'exit-test', task: `exit test ${id}` });
    const steps = readLines(path.join(dir, 'steps', `${id}.jsonl`));
    expect(
      steps.map((s) => s.step),
      why(id),
    ).toEqual(STEP_NUMBERS);
    expect(steps.map((s) => s.cumulative_reward)).toEqual(STEP_NUMBERS.map(cumulative));
    expect(ends.get(id), why(id)).toHaveLength(1);
    expect(ends.get(id)![0]).toMatchObject({
      completed: true,
      steps: STEPS,
      step_count_observed: STEPS,
      total_reward: TOTAL_REWARD,
    });
    expect((scores.get(id) ?? []).map((s) => [s.name, s.value]).sort()).toEqual([
      ['completed', true],
      ['reward', TOTAL_REWARD],
    ]);
  }
}

/** opentelemetry: the run span with both score events and 50 step spans per run. */
function checkOtel(ids: string[]): void {
  const byRun = groupBy(otel.spans, (s) => String(s.attributes['rlm.run_id']));
  for (const id of ids) {
    const spans = byRun.get(id) ?? [];
    const roots = spans.filter((s) => s.name === 'rlm.run');
    expect(roots, why(id)).toHaveLength(1);
    const root = roots[0]!;
    expect(root.parentSpanId).toBe('');
    expect(root.resource['service.name']).toBe('rlm-exit-test');
    expect(
      root.events
        .filter((e) => e.name === 'rlm.score')
        .map((e) => [e.attributes['rlm.score.name'], e.attributes['rlm.score.value']])
        .sort(),
    ).toEqual([
      ['completed', true],
      ['reward', TOTAL_REWARD],
    ]);
    const steps = spans.filter((s) => s.name === 'rlm.step');
    expect(
      steps.map((s) => Number(s.attributes['rlm.step'])).sort((a, b) => a - b),
      why(id),
    ).toEqual(STEP_NUMBERS);
    expectChildren(steps, root);
    expect(spans, why(id)).toHaveLength(1 + STEPS);
  }
}

/** logfire: the run span, its start log, 50 step logs, both score logs and the end log. */
function checkLogfire(ids: string[]): void {
  const byRun = groupBy(logfire.spans, (s) => String(s.attributes.run_id));
  for (const id of ids) {
    const spans = byRun.get(id) ?? [];
    const roots = spans.filter((s) => s.name === 'rlm.run {run_id}');
    expect(roots, why(id)).toHaveLength(1);
    const root = roots[0]!;
    const logs = spans.filter((s) => s !== root);
    expectChildren(logs, root);
    const count = (name: string) => logs.filter((s) => s.name === name).length;
    expect(count('RLM run started')).toBe(1);
    expect(count('RLM run completed')).toBe(1);
    expect(
      logs
        .filter((s) => s.name === 'RLM step {step} completed')
        .map((s) => Number(s.attributes.step))
        .sort((a, b) => a - b),
    ).toEqual(STEP_NUMBERS);
    expect(
      logs
        .filter((s) => s.name === 'RLM score {name} = {value}')
        .map((s) => [s.attributes.name, s.attributes.value])
        .sort(),
    ).toEqual([
      ['completed', true],
      ['reward', TOTAL_REWARD],
    ]);
    expect(spans, why(id)).toHaveLength(1 + 1 + STEPS + 2 + 1);
  }
}

/** langfuse: the rlm-run trace with its output, 50 step spans, and both scores. */
function checkLangfuse(ids: string[]): void {
  const roots = groupBy(
    langfuse.spans.filter((s) => s.name === 'rlm-run'),
    (s) => String(s.attributes['langfuse.observation.metadata.run_id']),
  );
  const byTrace = groupBy(langfuse.spans, (s) => s.traceId);
  const scoresByTrace = groupBy(langfuse.scores, (s) => String(s.traceId));
  for (const id of ids) {
    expect(roots.get(id), why(id)).toHaveLength(1);
    const root = roots.get(id)![0]!;
    expect(root.parentSpanId).toBe('');
    expect(JSON.parse(String(root.attributes['langfuse.trace.output']))).toMatchObject({
      completed: true,
      steps: STEPS,
      total_reward: TOTAL_REWARD,
    });
    const steps = (byTrace.get(root.traceId) ?? []).filter((s) => s !== root);
    expect(steps.map((s) => s.name).sort(), why(id)).toEqual(STEP_NAMES);
    expectChildren(steps, root);
    expect(
      (scoresByTrace.get(root.traceId) ?? []).map((s) => [s.name, s.value, s.dataType]).sort(),
    ).toEqual([
      ['completed', 1, 'NUMERIC'],
      ['reward', TOTAL_REWARD, 'NUMERIC'],
    ]);
  }
}

/** langsmith: the root run (created, patched with its outputs), 50 ended step runs, both feedbacks. */
function checkLangSmith(ids: string[]): void {
  const runs = [...langsmith.runs.values()];
  const roots = groupBy(
    runs.filter((r) => r.parent_run_id === undefined),
    (r) => String(r.extra?.metadata?.run_id),
  );
  const children = groupBy(
    runs.filter((r) => r.parent_run_id !== undefined),
    (r) => String(r.parent_run_id),
  );
  const feedback = groupBy([...langsmith.feedback.values()], (f) => String(f.run_id));
  for (const id of ids) {
    expect(roots.get(id), why(id)).toHaveLength(1);
    const root: LangSmithRun = roots.get(id)![0]!;
    expect(root).toMatchObject({
      name: `rlm-run-${id.slice(0, 8)}`,
      run_type: 'chain',
      session_name: LANGSMITH_PROJECT,
      inputs: { task: `exit test ${id}`, environment: 'exit-test' },
      outputs: { completed: true, steps: STEPS, total_reward: TOTAL_REWARD },
    });
    expect(root.end_time, why(id)).toBeDefined();
    const steps = children.get(root.id) ?? [];
    expect(steps.map((s) => s.name).sort(), why(id)).toEqual(STEP_NAMES);
    for (const step of steps) {
      const n = Number(step.name!.slice('step-'.length));
      expect(step).toMatchObject({
        run_type: 'tool',
        trace_id: root.trace_id,
        inputs: { action: 'run_python', code: `x = ${n}` },
        outputs: { success: true, reward: reward(n), cumulative_reward: cumulative(n) },
      });
      expect(step.end_time).toBeDefined();
    }
    expect((feedback.get(root.id) ?? []).map((f) => [f.key, f.score]).sort()).toEqual([
      ['completed', 1],
      ['reward', TOTAL_REWARD],
    ]);
  }
}

/** mlflow: one FINISHED run with params, 50 steps of metric history, end metrics, scores, artifact. */
async function checkMlflow(ids: string[]): Promise<void> {
  const client = new MlflowClient({ trackingUri: mlflow!.url });
  const experiment = await client.getExperimentByName(EXPERIMENT);
  expect(experiment).toBeDefined();
  await pool(ids, 4, async (id) => {
    const found = await client.findRunsByTag(experiment!.experiment_id, 'run_id', id);
    expect(found, why(id)).toHaveLength(1);
    const run = await client.getRun(found[0]!.info.run_id);
    expect(run.info.status, why(id)).toBe('FINISHED');
    expect(run.info.run_name).toBe(id);
    const params = Object.fromEntries((run.data.params ?? []).map((p) => [p.key, p.value]));
    expect(params).toMatchObject({ max_steps: String(STEPS), environment: 'exit-test' });
    const metrics = Object.fromEntries((run.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(metrics).toMatchObject({
      completed: 1,
      steps: STEPS,
      total_reward: TOTAL_REWARD,
      'score.reward': TOTAL_REWARD,
      'score.completed': 1,
    });
    const history = async (key: string) =>
      (await client.getMetricHistory(run.info.run_id, key))
        .sort((a, b) => a.step - b.step)
        .map((m) => [m.step, m.value]);
    expect(await history('step_reward')).toEqual(STEP_NUMBERS.map((n) => [n, reward(n)]));
    expect(await history('cumulative_reward')).toEqual(STEP_NUMBERS.map((n) => [n, cumulative(n)]));
    const artifacts = await client.listArtifacts(run.info.run_id, id);
    expect(artifacts.map((a) => a.path)).toEqual([`${id}/answer.txt`]);
  });
}

const checks: Record<SinkKey, (ids: string[]) => void | Promise<void>> = {
  jsonl: checkJsonl,
  otel: checkOtel,
  logfire: checkLogfire,
  langfuse: checkLangfuse,
  langsmith: checkLangSmith,
  mlflow: checkMlflow,
};

describe(`${PROCESSES} short processes with all six sinks, ${STEPS} steps each, no flush`, () => {
  it('every process exits by itself with code 0 and no error output; every sink was available', () => {
    for (const job of allSix) expectCleanExit(job);
  });

  for (const sink of SINKS) {
    it(`${SINK_NAMES[sink]}: every event of every process arrived`, async () => {
      await checks[sink](allSixIds);
    });
  }

  it('opentelemetry: each process exported its metrics at exit, once', () => {
    const processes = allSix.length + viaWorker.length + aloneIds('otel').length;
    const total = (name: string) =>
      otel.metrics
        .filter((m) => m.name === name)
        .flatMap((m) => m.points)
        .reduce((sum, p) => sum + (p.value ?? p.count ?? 0), 0);
    expect(total('rlm.runs')).toBe(processes);
    expect(total('rlm.steps')).toBe(processes * STEPS);
    expect(total('rlm.reward')).toBe(processes * STEPS);
    expect(total('rlm.run_duration')).toBe(processes);
  });

  it('no sink received anything twice or from elsewhere', () => {
    const expected = (sink: SinkKey) =>
      [...allSix, ...viaWorker, ...alone].filter((j) => j.sinks.includes(sink)).length;
    expect(otel.spans).toHaveLength(expected('otel') * (1 + STEPS));
    expect(logfire.spans).toHaveLength(expected('logfire') * (1 + 1 + STEPS + 2 + 1));
    expect(langfuse.spans).toHaveLength(expected('langfuse') * (1 + STEPS));
    expect(langfuse.scores).toHaveLength(expected('langfuse') * 2);
    expect(langsmith.runs.size).toBe(expected('langsmith') * (1 + STEPS));
    expect(langsmith.feedback.size).toBe(expected('langsmith') * 2);
    expect([...langsmith.projects.keys()]).toEqual([LANGSMITH_PROJECT]);
  });
});

describe(`${WORKER_PROCESSES} short processes with the remote sinks in the worker thread, no flush`, () => {
  it('every process exits by itself with code 0 and no error output; every sink was available', () => {
    for (const job of viaWorker) expectCleanExit(job);
  });

  for (const sink of SINKS) {
    it(`${SINK_NAMES[sink]}: every event of every process arrived`, async () => {
      await checks[sink](viaWorkerIds);
    });
  }
});

describe(`each sink alone in ${ALONE} processes (no other sink keeps the process alive)`, () => {
  for (const sink of SINKS) {
    it(`${SINK_NAMES[sink]}: clean exits, every event arrived`, async () => {
      const jobs = alone.filter((j) => j.sinks[0] === sink);
      for (const job of jobs) expectCleanExit(job);
      await checks[sink](aloneIds(sink));
    });
  }
});
