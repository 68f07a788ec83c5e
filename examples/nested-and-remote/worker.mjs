// The remote half: continues the parent's trace from TRACEPARENT, names its parent run, and
// prints its own run id for the parent to collect.
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';

const obs = RLMObservability.withSinks([createJsonlSink({ dir: process.argv[2] })]);
const run = obs.startRun({
  task: 'Sub-task B (remote worker)',
  environment: 'remote-worker',
  parentRunId: process.env.PARENT_RUN_ID,
  traceparent: process.env.TRACEPARENT,
});
run.step({
  action: { action: 'run_python', code: 'sorted([3, 1, 2])' },
  observation: { success: true, output: '[1, 2, 3]' },
  reward: 1,
});
run.end({ finalAnswer: '[1, 2, 3]' });
process.stdout.write(`${run.id}\n`);
// No flush: the events still get out when the process ends.
