#!/usr/bin/env node
/**
 * Nested and remote runs: the parent records a step, starts an in-process child run, then
 * hands a sub-task to another process with the W3C `traceparent` and its run id. The worker
 * continues the same trace as a child run. Both processes append to one directory.
 *
 *   pnpm --filter @rlm/example-nested-and-remote start
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink, openJsonlStore } from '@rlm/sink-jsonl';

const dir = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-nested-'));
const obs = RLMObservability.withSinks([createJsonlSink({ dir })]);

const parent = obs.startRun({
  task: 'Plan and delegate',
  environment: 'orchestrator',
  params: { max_steps: 3 },
});
parent.step({
  action: { action: 'plan', code: 'split the task in two' },
  observation: { success: true, output: '2 sub-tasks' },
  reward: 0.2,
});

// 1. A nested run in this process.
const local = parent.child({ task: 'Sub-task A (in process)', environment: 'worker' });
local.step({
  action: { action: 'run_python', code: 'print(1 + 1)' },
  observation: { success: true, output: '2' },
  reward: 1,
});
local.end({ finalAnswer: '2' });

// 2. A child run in another process, joined by traceparent.
const worker = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const { stdout } = await promisify(execFile)(process.execPath, [worker, dir], {
  env: { ...process.env, TRACEPARENT: parent.traceparent(), PARENT_RUN_ID: parent.id },
});
const childId = stdout.trim();
parent.step({
  action: { action: 'collect', code: `wait(${JSON.stringify(childId)})` },
  observation: { success: true, output: 'both done' },
  reward: 0.5,
});
parent.end({ finalAnswer: 'both sub-tasks done' });
await obs.shutdown();

const store = openJsonlStore(dir);
const runs = await store.listRuns();
const remote = await store.readRun(childId);
console.log(`parent ${parent.id} (trace ${parent.traceId})`);
for (const run of runs.filter((r) => r.parentRunId === parent.id)) {
  const full = await store.readRun(run.runId);
  console.log(
    `  child ${run.runId} [${run.environment}] ${run.task} — ${full.steps.length} step(s), traceparent ${full.start?.traceparent ?? '-'}`,
  );
}
const sameTrace = remote.start?.traceparent?.split('-')[1] === parent.traceId;
console.log(
  sameTrace
    ? 'the remote child continues the parent trace'
    : 'the remote child is NOT in the parent trace',
);
console.log(`records: ${dir}  (try: pnpm rlm-obs show ${parent.id.slice(0, 13)} --dir ${dir})`);
if (!sameTrace || runs.filter((r) => r.parentRunId === parent.id).length !== 2)
  process.exitCode = 1;
