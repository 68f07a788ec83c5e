#!/usr/bin/env node
/**
 * A simulated RLM agent recorded by rlm-obs to local JSONL files (the default sink).
 *
 *   pnpm --filter @rlm/example-basic start                  # under ./.rlm_code/rlm/observability
 *   pnpm --filter @rlm/example-basic start --dir /tmp/obs   # somewhere else
 *
 * It exercises the run API: steps with rewards and LLM usage, a failing step, a nested
 * (child) run, a run continued from a W3C traceparent, and a run that errors out. Then it
 * reads the directory back and prints what was recorded.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink, openJsonlStore } from '@rlm/sink-jsonl';

const { values } = parseArgs({
  // `pnpm --filter @rlm/example-basic start -- --dir x` passes the `--` through: ignore it.
  args: process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--')),
  options: {
    dir: {
      type: 'string',
      default: path.join(
        process.env.INIT_CWD ?? process.cwd(),
        '.rlm_code',
        'rlm',
        'observability',
      ),
    },
    steps: { type: 'string', default: '5' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: node index.mjs [--dir <directory>] [--steps <n>]');
  process.exit(0);
}

const obs = RLMObservability.withSinks([createJsonlSink({ dir: values.dir })], {
  attributes: { example: 'demo-agent' },
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const steps = Math.max(1, Number(values.steps) || 5);

/** One agent step: "write code, run it, observe, get a reward". */
async function act(run, i, { fail = false } = {}) {
  const startedAt = Date.now();
  await sleep(5 + Math.random() * 10);
  const code = `values = [i * i for i in range(${i * 10})]\nprint(sum(values))`;
  run.step({
    action: {
      action: i === steps ? 'submit' : 'run_python',
      code,
      rationale: `step ${i} of the plan`,
    },
    observation: fail
      ? { success: false, output: '', error: "NameError: name 'vaules' is not defined" }
      : { success: true, output: String((i * 10 * (i * 10 - 1) * (2 * i * 10 - 1)) / 6) },
    reward: fail ? -0.1 : 0.25,
    startedAt,
    durationMs: Date.now() - startedAt,
    usage: { model: 'gpt-4.1-mini', inputTokens: 600 + 40 * i, outputTokens: 80 + 5 * i },
  });
}

// 1. A run with a failing step and a nested sub-run.
const root = obs.startRun({
  task: 'Sum the squares below 50 and explain the formula',
  environment: 'pure_rlm',
  params: { max_steps: steps, model: 'gpt-4.1-mini', api_key: 'sk-demo-never-written' },
});
for (let i = 1; i <= steps; i++) {
  await act(root, i, { fail: i === 2 });
  if (i === 3) {
    const child = root.child({
      task: 'Check the closed form n(n-1)(2n-1)/6',
      environment: 'pure_rlm',
      params: { max_steps: 2 },
    });
    await act(child, 1);
    await act(child, 2);
    child.end({ finalAnswer: 'The closed form holds.' });
  }
}
root.end({ finalAnswer: '40425', runPath: path.join(values.dir, '..', 'runs', root.id) });

// 2. A run continued from another process's traceparent (same trace).
const remote = obs.startRun({
  task: 'Continue in a worker',
  environment: 'worker',
  traceparent: root.traceparent(),
});
await act(remote, 1);
remote.end();

// 3. A run that errors out.
const broken = obs.startRun({
  task: 'Parse an unreadable file',
  environment: 'pure_rlm',
  params: { max_steps: 3 },
});
await act(broken, 1, { fail: true });
broken.fail(new Error('budget exhausted after repeated failures'));

const report = await obs.shutdown();
const store = openJsonlStore(values.dir);
const runs = await store.listRuns();
const recent = runs.filter(
  (r) => [root.id, remote.id, broken.id].includes(r.runId) || r.parentRunId === root.id,
);

console.log(`rlm-obs demo: recorded ${recent.length} runs to ${values.dir}\n`);
console.log(['run', 'parent', 'env', 'steps', 'reward', 'completed'].join('\t'));
for (const r of recent) {
  console.log(
    [
      r.runId.slice(0, 13),
      r.parentRunId ? r.parentRunId.slice(0, 13) : '-',
      r.environment,
      r.steps,
      r.totalReward?.toFixed(2),
      r.completed,
    ].join('\t'),
  );
}
const delivered = report.sinks.map(
  (s) => `${s.name}: ${s.delivered} events, ${s.failed} failed, ${s.dropped} dropped`,
);
console.log(`\n${delivered.join('\n')}`);
console.log(
  `\nfiles: ${path.join(values.dir, 'runs.jsonl')}, ${path.join(values.dir, 'starts.jsonl')}, ${path.join(values.dir, 'steps')}/`,
);
if (!report.ok) process.exitCode = 1;
